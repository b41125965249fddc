"""Content-addressed storage of uploads: streamed to disk, hashed on the way, stored once."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import IntegrityError, transaction

from .models import StoredFile, blob_path


def _tmp_dir() -> Path:
    path = Path(settings.DATA_DIR) / "blobs" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


class TooLarge(Exception):
    pass


class HashedUpload(UploadedFile):
    """An upload already on disk in the blob store's temporary folder, with its sha256."""

    def __init__(self, tmp_path: Path, name: str, size: int, sha256: str, content_type: str | None):
        super().__init__(open(tmp_path, "rb"), name=name, content_type=content_type, size=size)  # noqa: SIM115
        self.tmp_path = tmp_path
        self.sha256 = sha256

    def discard(self) -> None:
        self.file.close()
        self.tmp_path.unlink(missing_ok=True)


class HashingUploadHandler(FileUploadHandler):
    """Streams each file of a request to disk, hashing it and stopping at the size limit.

    Never holds a file in memory; an interrupted or oversized upload leaves no file behind.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.limit = settings.DATASET_MAX_UPLOAD_BYTES
        self.tmp_path = _tmp_dir() / uuid.uuid4().hex
        self.out = open(self.tmp_path, "wb")  # noqa: SIM115
        self.hasher = hashlib.sha256()
        self.size = 0

    def receive_data_chunk(self, raw_data, start):
        self.size += len(raw_data)
        if self.size > self.limit:
            self._cleanup()
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=True)
        self.out.write(raw_data)
        self.hasher.update(raw_data)
        return None

    def file_complete(self, file_size):
        self.out.close()
        return HashedUpload(
            self.tmp_path, self.file_name, self.size, self.hasher.hexdigest(), self.content_type
        )

    def upload_interrupted(self):
        self._cleanup()

    def _cleanup(self):
        if not self.out.closed:
            self.out.close()
        self.tmp_path.unlink(missing_ok=True)


def store(upload: HashedUpload) -> StoredFile:
    """Move the upload into the blob store, or drop it when identical bytes are already there."""
    target = blob_path(upload.sha256)
    existing = StoredFile.objects.filter(sha256=upload.sha256).first()
    if existing is not None and target.exists():
        upload.discard()
        return existing
    target.parent.mkdir(parents=True, exist_ok=True)
    upload.file.close()
    os.replace(upload.tmp_path, target)
    target.chmod(0o440)  # stored files are never modified
    try:
        with transaction.atomic():
            stored, _ = StoredFile.objects.get_or_create(
                sha256=upload.sha256, defaults={"size": upload.size}
            )
    except IntegrityError:  # the same bytes stored by a concurrent upload
        stored = StoredFile.objects.get(sha256=upload.sha256)
    return stored


def store_path(path: Path) -> StoredFile:
    """Store a file we already have (a sample dataset) the same way as an upload."""
    hasher = hashlib.sha256()
    tmp = _tmp_dir() / uuid.uuid4().hex
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for chunk in iter(lambda: src.read(1024 * 1024), b""):
            hasher.update(chunk)
            dst.write(chunk)
    upload = HashedUpload(tmp, path.name, tmp.stat().st_size, hasher.hexdigest(), None)
    return store(upload)


def remove_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
