"""The figures on a project's dashboard, each with where it came from.

Spend arrives with billing; until then it says so instead of showing a made-up zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.projects.models import Project
from apps.training.estimates import format_duration
from apps.training.models import RunStatus


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    source: str


def _training_time(project: Project) -> Figure:
    runs = project.runs.filter(
        status__in=[
            RunStatus.SUCCEEDED,
            RunStatus.STOPPED,
            RunStatus.FAILED,
            RunStatus.RUNNING,
            RunStatus.STOPPING,
        ]
    )
    seconds = sum(r.wall_seconds for r in runs)
    if not runs:
        return Figure("Total training time", "—", "no training runs yet")
    count = len(runs)
    return Figure(
        "Total training time",
        format_duration(seconds),
        f"wall-clock time of {count} run{'s' if count != 1 else ''}",
    )


def _current_model(project: Project) -> Figure:
    run = (
        project.runs.filter(status=RunStatus.SUCCEEDED)
        .select_related("base_model")
        .order_by("-finished_at")
        .first()
    )
    if run is None:
        return Figure("Current model", "None yet", "train a version to set it")
    return Figure(
        "Current model",
        f"v{run.number}",
        f"{run.base_model.name}, trained {run.finished_at:%b %-d}",
    )


def project_figures(project: Project) -> list[Figure]:
    return [
        Figure(
            "Created", project.created_at.strftime("%b %-d, %Y"), "when the project was created"
        ),
        _training_time(project),
        Figure("Total spend", "$0.00", "no usage recorded for this project"),
        _current_model(project),
    ]
