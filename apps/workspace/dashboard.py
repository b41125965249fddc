"""The figures on a project's dashboard, each with where it came from. Spend is the sum of the
project's usage events (billing's ledger), the same rows the team's usage page adds up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum

from apps.billing.models import UsageEvent, UsageKind
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


def money(amount: Decimal) -> str:
    """Dollars with enough digits that a small sum never reads as zero ($0.00045 of tokens)."""
    places = 2 if amount >= Decimal("0.1") or amount == 0 else 5
    return f"${amount:,.{places}f}"


def _spend(project: Project) -> Figure:
    rows = {
        row["kind"]: row
        for row in UsageEvent.objects.filter(project=project)
        .values("kind")
        .annotate(cost=Sum("cost"), events=Count("id"))
    }
    if not rows:
        return Figure("Total spend", "$0.00", "no usage recorded for this project")
    total = sum((row["cost"] for row in rows.values()), Decimal(0))
    events = sum(row["events"] for row in rows.values())
    parts = ", ".join(
        f"{label.lower()} {money(rows[kind]['cost'])}"
        for kind, label in UsageKind.choices
        if kind in rows
    )
    return Figure(
        "Total spend",
        money(total),
        f"{events} usage event{'s' if events != 1 else ''}: {parts}",
    )


def project_figures(project: Project) -> list[Figure]:
    return [
        Figure(
            "Created", project.created_at.strftime("%b %-d, %Y"), "when the project was created"
        ),
        _training_time(project),
        _spend(project),
        _current_model(project),
    ]
