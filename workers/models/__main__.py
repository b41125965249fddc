"""python -m workers.models [CACHE_DIR]: convert and cache the bundled model ahead of time."""

import os
import sys
from pathlib import Path

from .bundled import ensure_bundled_model

where = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else Path(os.environ.get("VIBEFLOW_MODEL_CACHE", "var/models"))
)
print(ensure_bundled_model(where))
