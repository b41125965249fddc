"""Downloads of a version: the adapter zip (built in the request: it is small) and the merged
model zip (base + adapter, built by a task on the gpu queue: it loads the whole model)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from apps.training.models import TrainingRun
from apps.training.weights import model_source
from workers.models import bundled
from workers.serving import export

log = logging.getLogger(__name__)


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


def _named(run, name: str, bundle_format: int | None = None) -> Path:
    """``name`` ("adapter.zip", "merged.json") as the files of one bundle format are named: with
    the format's number, so what an older format built is never served again but built anew.
    Format 1 (the zips from before they were made portable) had no number."""
    bundle_format = bundle_format or export.BUNDLE_FORMAT
    stem, _, suffix = name.rpartition(".")
    return folder(run) / (name if bundle_format == 1 else f"{stem}-format{bundle_format}.{suffix}")


def _remove_older_formats(run, *names: str) -> None:
    for bundle_format in range(1, export.BUNDLE_FORMAT):
        for name in names:
            _named(run, name, bundle_format).unlink(missing_ok=True)


def adapter_zip(run) -> Path:
    path = export.build_zip(run.adapter_dir, _named(run, "adapter.zip"), **_describe(run))
    _remove_older_formats(run, "adapter.zip")
    return path


def merged_zip_path(run) -> Path:
    return _named(run, "merged.zip")


def merged_state(run) -> dict:
    """{"state": none | queued | building | ready | failed, "error": sentence}.

    The marker is named by the format too: an older build left it at "building", which would
    otherwise hold the page on a build that never comes."""
    if merged_zip_path(run).is_file():
        return {"state": "ready"}
    marker = _named(run, "merged.json")
    if marker.is_file():
        return json.loads(marker.read_text())
    return {"state": "none"}


def set_merged_state(run, state: str, error: str = "") -> None:
    folder(run).mkdir(parents=True, exist_ok=True)
    _named(run, "merged.json").write_text(json.dumps({"state": state, "error": error}))


def build_merged(run) -> Path:
    """Merge base + adapter (peft's merge_and_unload) and zip it with the same extras."""
    from workers.serving.merge import package_merged
    from workers.training.engine import resolve_model_dir

    base_dir = resolve_model_dir(model_source(run.base_model))
    # The merged folder is the same in every format (the portable files are made while zipping).
    merged = package_merged(base_dir, run.adapter_dir, folder(run) / "merged-model")
    path = export.build_zip(merged, merged_zip_path(run), **_describe(run))
    _remove_older_formats(run, "merged.zip", "merged.json")  # a merged zip is the model's size
    return path


def prepare_merged(run_id: str) -> str:
    """The "merged" download of a version, built once: "ready", or "failed" with the reason kept
    in its marker for the page. `tasks.export_merged` calls it."""
    run = TrainingRun.objects.select_related("base_model", "project").get(pk=run_id)
    if merged_state(run)["state"] == "ready":
        return "ready"
    set_merged_state(run, "building")
    try:
        build_merged(run)
    except Exception as exc:
        log.exception("merged export failed", extra={"run": run_id})
        set_merged_state(run, "failed", f"Merging failed: {exc}")
        return "failed"
    return "ready"
