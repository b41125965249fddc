"""A draft run from the offline recommender, for a project's goal and latest data: the "New run"
button's configuration when the agent was not asked."""

from __future__ import annotations

from apps.datasets.models import latest_version
from apps.training.models import TrainingRun
from apps.training.services import draft_from_recommendation

from .agent import catalog_entries, sizer_for
from .recommender import Request, decide


def draft_for_project(project, user) -> TrainingRun:
    """A draft from the offline recommender for the project's goal and latest data, on this
    machine, sized as a quick first run like the agent's."""
    models, gpus = catalog_entries()
    version = latest_version(project)
    count = version.train_count if version else None
    request = Request(project.goal or project.name, count, None, "cpu")
    sizer, assumed_data = sizer_for(project, count)
    rec = decide(request, models, gpus, sizer, assumed_data)
    return draft_from_recommendation(project, rec.as_dict(), user)
