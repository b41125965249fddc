"""Downloads of a version: the adapter zip (built in the request: it is small) and the merged
model zip (base + adapter, built by a task on the gpu queue: it loads the whole model)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from workers.models import bundled
from workers.serving.export import build_zip


def folder(run) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(run.pk)


def filename(run, merged: bool = False) -> str:
    return f"{slugify(run.project.name) or 'model'}-v{run.number}{'-merged' if merged else ''}.zip"


def public_id(base_model) -> str | None:
    """The base model's public Hugging Face Hub id; None for one this server has only on disk
    (a catalog row whose source is a folder), whose path must not travel in a download."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if base_model.bundled:
        return bundled.HUB_ID
    try:
        validate_repo_id(base_model.source)  # refuses absolute paths and "a/b/c"
    except HFValidationError:
        return None
    return base_model.source


def _describe(run) -> dict:
    return {
        "title": f"{run.project.name} v{run.number}",
        "base": run.base_model.name,
        "base_id": public_id(run.base_model),
        "method": run.get_method_display(),
        "version": f"v{run.number}",
    }


def adapter_zip(run) -> Path:
    return build_zip(run.adapter_dir, folder(run) / "adapter.zip", **_describe(run))


def merged_zip_path(run) -> Path:
    return folder(run) / "merged.zip"


def merged_state(run) -> dict:
    """{"state": none | queued | building | ready | failed, "error": sentence}."""
    if merged_zip_path(run).is_file():
        return {"state": "ready"}
    marker = folder(run) / "merged.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    return {"state": "none"}


def set_merged_state(run, state: str, error: str = "") -> None:
    folder(run).mkdir(parents=True, exist_ok=True)
    (folder(run) / "merged.json").write_text(json.dumps({"state": state, "error": error}))


def build_merged(run) -> Path:
    """Merge base + adapter (peft's merge_and_unload) and zip it with the same extras."""
    from apps.training.tasks import model_source
    from workers.serving.merge import package_merged
    from workers.training.engine import resolve_model_dir

    base_dir = resolve_model_dir(model_source(run.base_model))
    merged = package_merged(base_dir, run.adapter_dir, folder(run) / "merged-model")
    return build_zip(merged, merged_zip_path(run), **_describe(run))
