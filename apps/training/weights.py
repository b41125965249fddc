"""Where a catalog model's weights come from, for every engine that loads it: training,
evaluation, serving and export."""

from __future__ import annotations

from django.conf import settings

from workers.training import ModelSource


def model_source(model) -> ModelSource:
    """Where a catalog model's weights come from, for the engines."""
    if model.bundled:
        return ModelSource("bundled", cache_dir=str(settings.MODEL_CACHE_DIR))
    return ModelSource("hub", model.source)
