"""Downloads of a version: the adapter zip (built in the request: it is small), the merged
model zip, and GGUF files for llama.cpp and Ollama (built by tasks on the gpu queue: they load
the whole model)."""

from __future__ import annotations

import json
import logging
import os
import time
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
    return read_marker(_named(run, "merged.json"))


def set_merged_state(run, state: str, error: str = "") -> None:
    write_marker(_named(run, "merged.json"), {"state": state, "error": error})


# A build whose marker has not moved for this long was lost (its task died): it can be retried.
MARKER_STALE_S = 3600


def read_marker(marker: Path) -> dict:
    """A build's state as its marker says, a lost build (no change for MARKER_STALE_S) as
    failed, so the page offers to try again instead of waiting for ever."""
    try:
        state = json.loads(marker.read_text())
        age = time.time() - marker.stat().st_mtime
    except (OSError, ValueError):
        return {"state": "none"}
    if state.get("state") in ("queued", "building") and age > MARKER_STALE_S:
        return {"state": "failed", "error": "The build stopped before it finished; try again."}
    return state


def write_marker(marker: Path, state: dict) -> None:
    """Written whole or not at all (renamed into place): the page polls it while it changes."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    partial = marker.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(state))
    partial.replace(marker)


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


# --- GGUF (llama.cpp, LM Studio) and the Ollama bundle --------------------------------------

GGUF_KINDS = {
    "f16": "GGUF, F16 (the model as it is)",
    "q8_0": "GGUF, Q8_0 (8-bit, half the size)",
    "ollama": "Ollama bundle (Q8_0 GGUF and a Modelfile)",
}


def gguf_filename(run, kind: str) -> str:
    stem = f"{slugify(run.project.name) or 'model'}-v{run.number}"
    return f"{stem}-ollama.zip" if kind == "ollama" else f"{stem}-{kind}.gguf"


def gguf_path(run, kind: str) -> Path:
    return folder(run) / ("ollama.zip" if kind == "ollama" else f"model-{kind}.gguf")


def gguf_state(run, kind: str) -> dict:
    """{"state": none | queued | building | ready | failed, "progress": 0-1, "error": ...}."""
    if gguf_path(run, kind).is_file():
        return {"state": "ready", "progress": 1.0}
    return read_marker(folder(run) / f"gguf-{kind}.json")


def set_gguf_state(run, kind: str, state: str, error: str = "", progress: float = 0.0) -> None:
    write_marker(
        folder(run) / f"gguf-{kind}.json", {"state": state, "error": error, "progress": progress}
    )


def _merged_folder(run) -> Path:
    from workers.serving.merge import package_merged
    from workers.training.engine import resolve_model_dir

    base_dir = resolve_model_dir(model_source(run.base_model))
    return package_merged(base_dir, run.adapter_dir, folder(run) / "merged-model")


def _tokenizer_pre(run) -> str:
    """llama.cpp's pre-tokenizer name for the base: SmolLM's, Llama 3's, else the generic one."""
    names = f"{public_id(run.base_model) or ''} {run.base_model.name}".lower()
    if "smollm" in names:
        return "smollm"
    return "llama-bpe" if "llama-3" in names or "llama 3" in names else "default"


def build_gguf(run, kind: str, on_progress=lambda share: None) -> Path:
    from workers.serving import gguf_export

    set_gguf_state(run, kind, "building", progress=0.02)
    merged = _merged_folder(run)
    quant = "q8_0" if kind == "ollama" else kind
    target = gguf_path(run, quant)
    if not target.is_file():
        gguf_export.export(
            merged,
            target,
            quant,
            name=_describe(run)["title"],
            on_progress=on_progress,
            tokenizer_pre=_tokenizer_pre(run),
        )
    if kind != "ollama":
        return target
    return _ollama_zip(run, merged, target)


def _ollama_zip(run, merged: Path, gguf_file: Path) -> Path:
    import zipfile

    from workers.serving import gguf_export

    template = merged / "chat_template.jinja"
    chat_template = template.read_text() if template.is_file() else ""
    name = gguf_filename(run, "q8_0")
    modelfile = gguf_export.modelfile(name, chat_template, _system_prompt(run))
    tag = slugify(f"{run.project.name}-v{run.number}") or "model"
    readme = (
        f"{_describe(run)['title']} for Ollama.\n\n"
        f"Unzip, then in this folder:\n\n    ollama create {tag} -f Modelfile\n"
        f"    ollama run {tag}\n"
    )
    out = gguf_path(run, "ollama")
    partial = out.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as bundle:  # GGUF does not compress
        bundle.write(gguf_file, name)
        bundle.writestr("Modelfile", modelfile)
        bundle.writestr("README.txt", readme)
    partial.replace(out)
    return out


def _system_prompt(run) -> str:
    """The system prompt the version was trained with: its first training example's, if any."""
    path = run.dataset_version.folder / "train.jsonl" if run.dataset_version_id else None
    if path is None or not path.is_file():
        return ""
    with path.open("rb") as rows:
        first = rows.readline()
    try:
        messages = json.loads(first).get("messages") or []
    except (ValueError, AttributeError):
        return ""
    return (
        messages[0].get("content", "") if messages and messages[0].get("role") == "system" else ""
    )


def prepare_gguf(run_id: str, kind: str) -> str:
    """A GGUF download of a version, built once, its progress in its marker: "ready" or
    "failed" with the reason for the page. `tasks.export_gguf` calls it."""
    from workers.serving.gguf_export import CannotExport

    run = TrainingRun.objects.select_related("base_model", "project").get(pk=run_id)
    if kind not in GGUF_KINDS:
        return "failed"
    if gguf_state(run, kind)["state"] == "ready":
        return "ready"
    last = [0.0]

    def on_progress(share: float) -> None:
        if share - last[0] >= 0.05:  # a marker write per 5%
            last[0] = share
            set_gguf_state(run, kind, "building", progress=round(0.1 + 0.85 * share, 2))

    try:
        build_gguf(run, kind, on_progress)
    except CannotExport as exc:
        set_gguf_state(run, kind, "failed", str(exc))
        return "failed"
    except Exception as exc:
        log.exception("gguf export failed", extra={"run": run_id, "kind": kind})
        set_gguf_state(run, kind, "failed", f"The conversion failed: {type(exc).__name__}.")
        return "failed"
    return "ready"
