"""Building a queued dataset version: claim it (only a version still queued is worked on), fetch a
Hub import, read and map the upload or filter the parent's rows, and end it ready with its report
or failed with a sentence. `tasks.analyse_version` calls `analyse_version`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from . import analysis, discovery, ingest
from .discovery import DiscoveryUnavailable
from .formats import DatasetFormatError
from .models import DatasetVersion, VersionStatus
from .storage import remove_folder, store_path

log = logging.getLogger(__name__)


def _claim(version_id) -> DatasetVersion | None:
    # A redelivered task finds the version already past "Queued" and does nothing.
    claimed = DatasetVersion.objects.filter(
        pk=version_id, status=VersionStatus.ANALYSING, stage="Queued"
    ).update(stage="Reading the file")
    return (
        DatasetVersion.objects.select_related("dataset", "source", "parent").get(pk=version_id)
        if claimed
        else None
    )


def analyse_version(version_id: str) -> str:
    """Build a version's rows, report and split, from its source file or from its parent's rows.

    1. Claim the version (only a version still queued is worked on).
    2. Download a Hub import into the blob store first.
    3. Read and map the upload, or filter the parent's rows.
    4. Write the files, then mark the version ready with its report, in one update.
    On any failure the version ends `failed` with a sentence, and its folder is removed.
    """
    version = _claim(version_id)
    if version is None:
        return "skipped"
    folder = version.folder
    if version.source_id is None:
        try:
            _download_from_hub(version)
        except (DiscoveryUnavailable, DatasetFormatError) as exc:
            return _fail(version, str(exc), folder)
    position = [0.0]
    try:
        if version.parent_id and version.drop:
            parent = version.parent
            drop_issues = set(version.drop.get("issues", []))
            drop_rows = set(version.drop.get("rows", []))
            items = analysis.items_from_version(
                parent.folder,
                lambda row: bool(drop_issues & set(row["issues"])) or row["i"] in drop_rows,
                fill=version.drop.get("fill"),
            )
            fmt, columns, proposal, mapping = (
                parent.format,
                parent.columns,
                parent.proposal,
                parent.mapping,
            )
            total_hint = max(parent.total, 1)

            def position_fn():
                return min(1.0, position[0] / total_hint)

            def counted(it):
                for item in it:
                    position[0] += 1
                    yield item

            remove_folder(folder)
            report = analysis.build_version(
                counted(items),
                folder,
                expected_language=version.dataset.expected_language,
                progress=version.set_progress,
                position=position_fn,
            )
        else:
            upload = analysis.read_upload(version.source.path, version.original_name)
            fmt, columns, proposal = (
                upload.sniffed.format,
                upload.columns,
                upload.proposal.as_dict(),
            )
            mapping = version.mapping or proposal
            if mapping["kind"] == "columns" and not mapping.get("output"):
                raise DatasetFormatError(
                    analysis.unreadable_start(upload)
                    or "No column could be used as the output. Choose the input and output columns by hand.",
                    "no_mapping",
                )
            remove_folder(folder)
            report = ingest.build_from_upload(
                upload,
                mapping,
                folder,
                expected_language=version.dataset.expected_language,
                progress=version.set_progress,
            )
    except DatasetFormatError as exc:
        return _fail(version, str(exc), folder)
    except Exception:
        log.exception("analysis failed", extra={"version": str(version.pk)})
        return _fail(
            version, "The analysis failed unexpectedly. The error was logged; try again.", folder
        )
    with transaction.atomic():
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=VersionStatus.READY,
            progress=1.0,
            stage="Done",
            format=fmt,
            columns=columns,
            proposal=proposal,
            mapping=mapping,
            report=report,
            total=report["total"],
            train_count=report["train"],
            test_count=report["test"],
        )
    return "ready"


def _download_from_hub(version: DatasetVersion) -> None:
    repo_id, filename = version.hub_source["repo_id"], version.hub_source["filename"]
    version.set_progress(0.0, f"Downloading {filename} from the Hub")
    with discovery.downloaded(repo_id, filename) as path:
        if path.stat().st_size > settings.DATASET_MAX_UPLOAD_BYTES:
            limit = settings.DATASET_MAX_UPLOAD_BYTES // 2**20
            raise DatasetFormatError(
                f"{filename} is larger than the {limit} MB limit.", "too_large"
            )
        stored = store_path(path)
    DatasetVersion.objects.filter(pk=version.pk).update(source=stored)
    version.source = stored
    version.set_progress(0.0, "Reading the file")


def _fail(version, message, folder) -> str:
    remove_folder(folder)
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.FAILED, stage="Failed", error=message
    )
    return "failed"
