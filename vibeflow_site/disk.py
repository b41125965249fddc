"""Files under DATA_DIR that belong to a row go when the row goes (after the transaction commits,
so a rolled-back delete keeps them). Anything outside DATA_DIR is never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction


def remove_after_commit(*paths: str | Path) -> None:
    root = Path(settings.DATA_DIR).resolve()
    targets = [Path(p).resolve() for p in paths if p]

    def remove() -> None:
        for path in targets:
            if root in path.parents:
                shutil.rmtree(path, ignore_errors=True)

    transaction.on_commit(remove)
