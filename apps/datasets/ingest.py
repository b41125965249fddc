"""Building a version from an uploaded file: the columnar path where it applies, else the
streaming one. Both write the same files (tests/datasets/test_columnar.py); the columnar
path is several times faster on large CSV files, the streaming path reads every format and
reports irregular rows one by one."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from . import analysis
from . import thresholds as T

log = logging.getLogger(__name__)


def build_from_upload(
    upload: analysis.Upload,
    mapping: dict,
    out_dir: Path,
    *,
    expected_language: str = "en",
    seed: int = T.DEFAULT_SEED,
    test_fraction: float = T.DEFAULT_TEST_FRACTION,
    progress: analysis.Progress = analysis.no_progress,
) -> dict:
    """The version's files and report for ``upload`` (from ``analysis.read_upload``)."""
    # Imported here, in the worker process that runs the task: a prefork pool's parent
    # imports task modules before it forks, and a child of a parent that has used polars'
    # thread pool can deadlock (polars warns of it). The parent never gets polars this way.
    from . import columnar

    options = {
        "expected_language": expected_language,
        "seed": seed,
        "test_fraction": test_fraction,
        "notices": upload.sniffed.notices,
        "progress": progress,
    }
    if columnar.supports(upload.sniffed, mapping, upload.columns):
        try:
            return columnar.build_version(
                upload.path, upload.sniffed, upload.columns, mapping, out_dir, **options
            )
        except columnar.Irregular as exc:
            # The streaming path reads the rest of the upload, untouched so far.
            log.info("columnar path declined the file: %s", exc)
            shutil.rmtree(out_dir, ignore_errors=True)
    size = max(upload.size, 1)
    return analysis.build_version(
        analysis.items_from_upload(upload, mapping),
        out_dir,
        position=lambda: min(1.0, upload.sniffed.bytes_read / size),
        **options,
    )
