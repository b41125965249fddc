"""Language identification with py3langid, its model loaded once per process, quickly.

py3langid ships its model LZMA-compressed: unpacking 68 MB takes 0.7-1 s of CPU in every
new process (a worker's first analysis, every benchmark run). The unpacked arrays are
kept as .npy files in the data folder's cache and memory-mapped from there afterwards.
If the copy cannot be made or read, py3langid's own loader is used; a test holds the two
to the same answers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path

import numpy as np

_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_lock = threading.Lock()
_identifier = None


def cache_folder() -> Path:
    # settings.DATA_DIR's cache, found without Django: benchmarks and scripts use this too.
    data = os.environ.get("VIBEFLOW_DATA_DIR") or Path(__file__).resolve().parents[2] / "var"
    return Path(data) / "cache" / f"py3langid-{version('py3langid')}"


def identifier():
    """py3langid's LanguageIdentifier, loaded on first use (from any thread)."""
    global _identifier
    with _lock:
        if _identifier is None:
            _identifier = _load()
        return _identifier


def _load():
    from py3langid import langid, modelio

    try:
        model = _from_cache(cache_folder(), modelio)
    except (OSError, ValueError, KeyError):
        model = modelio.load_model(langid.MODEL_DIR / langid.MODEL_FILE)
    ptc, pc, classes, nextmove, row, output = model
    return langid.LanguageIdentifier(
        np.asarray(ptc), np.asarray(pc), classes, nextmove, output, tk_row=row
    )


def _from_cache(folder: Path, modelio) -> tuple:
    if not folder.is_dir():
        _unpack(folder)
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    languages = len(arrays["classes"])
    ptc = arrays["ptc"]
    if ptc.ndim != 2 or ptc.shape[1] != languages or len(arrays["pc"]) != languages:
        raise ValueError("the cached language model's arrays do not fit together")
    # The same conversions as py3langid.modelio.load_model.
    return (
        arrays["ptc"],
        arrays["pc"],
        arrays["classes"].tolist(),
        modelio._to_array(np.asarray(arrays["nextmove"])),
        modelio._to_array(np.asarray(arrays["nextmove_row"])),
        arrays["out_feat"].tolist(),
    )


def _unpack(folder: Path) -> None:
    """Writes the model's arrays next to ``folder`` and renames them into place, so a
    reader never sees half a copy."""
    import lzma

    from py3langid import langid

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".unpacking-"))
    try:
        unpacked = staging / "model.npz"  # a zip must be seekable, an LZMA stream is not
        with lzma.open(langid.MODEL_DIR / langid.MODEL_FILE) as packed, open(unpacked, "wb") as f:
            shutil.copyfileobj(packed, f, length=1 << 20)
        with np.load(unpacked, allow_pickle=False) as data:
            for name in _ARRAYS:
                np.save(staging / f"{name}.npy", data[name], allow_pickle=False)
        unpacked.unlink()
        os.rename(staging, folder)
    except OSError:
        if folder.is_dir():  # another process unpacked it first
            return
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
