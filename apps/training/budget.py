"""Training's side of billing: the estimate and the team's active runs that a start is checked
against, the cost so far of runs still going (billing asks it through `running_cost`), and the
budget's stop (billing's `budget_exhausted`)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from apps.billing.budgets import StartCheck
from apps.billing.budgets import start_check as billing_check
from apps.billing.metering import MONEY, gpu_price_per_second

from .configuration import quote
from .models import ACTIVE, InvalidTransition, RunStatus, TrainingRun
from .reporting import DatabaseReporter


def estimated_cost(run) -> Decimal | None:
    """The configuration page's expected cost of this run (None: no estimate; the CPU is $0)."""
    result = quote(
        run.dataset_version, run.base_model, run.hardware, run.method, run.epochs, run.max_examples
    )
    if result.estimate is not None:
        return Decimal(str(result.estimate.cost)).quantize(MONEY)
    return Decimal(0) if run.hardware.is_cpu else None


def start_check(run) -> StartCheck:
    """The checklist's billing lines for this run: its estimate against the budget, the plan's
    run limit against the team's other active runs."""
    team_id = run.project.team_id
    active = (
        TrainingRun.objects.filter(project__team_id=team_id, status__in=ACTIVE)
        .exclude(pk=run.pk)
        .count()
    )
    return billing_check(team_id, estimated_cost(run), active)


def running_runs(team_id):
    return TrainingRun.objects.filter(
        project__team_id=team_id,
        status__in=[RunStatus.RUNNING, RunStatus.STOPPING],
    ).select_related("hardware", "project")


def running_cost(team_id) -> Decimal:
    """What runs still going have used so far: billed when they end, counted against the budget
    now."""
    total = Decimal(0)
    now = timezone.now()
    for run in running_runs(team_id):
        if run.started_at:
            seconds = max(0, int((now - run.started_at).total_seconds()))
            total += gpu_price_per_second(run.hardware) * seconds
    return total.quantize(MONEY)


def answer_running_cost(sender, team_id, **kwargs) -> Decimal:
    return running_cost(team_id)


def stop_for_budget(sender, team_id, sentence: str, **kwargs) -> list[str]:
    """The Stop button's stop for each running run of the team (a checkpoint, then the end after
    the step), and the run's page says why. Returns the runs stopped."""
    stopped = []
    for run in running_runs(team_id).filter(status=RunStatus.RUNNING):
        try:
            run.request_stop()
        except InvalidTransition:
            continue  # it ended meanwhile
        DatabaseReporter(run, run.log_path).alert("budget", sentence)
        stopped.append(str(run))
    return stopped
