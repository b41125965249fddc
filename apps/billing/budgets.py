"""A team's monthly budget: what is spent (usage events of this calendar month, UTC) plus what
running work is using now, the alerts at 50/80/100%, and what happens at the limit: runs stop
with a checkpoint, endpoints answer 402 unless the owner allowed overage, and a run whose
estimate exceeds what is left is refused at Start unless an owner overrides."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models, transaction
from django.utils import timezone

from .metering import MONEY, account_for, gpu_price_per_second
from .models import BillingAccount, UsageEvent

ALERT_LEVELS = (50, 80, 100)


def month_start(now=None):
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_key(now=None) -> str:
    return f"{(now or timezone.now()):%Y-%m}"


def spent_this_month(team_id) -> Decimal:
    total = UsageEvent.objects.filter(team_id=team_id, created_at__gte=month_start()).aggregate(
        total=models.Sum("cost")
    )["total"]
    return (total or Decimal(0)).quantize(MONEY)


def running_runs(team_id):
    from apps.training.models import RunStatus, TrainingRun

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


@dataclass
class Budget:
    limit: Decimal | None
    spent: Decimal
    running: Decimal

    @property
    def used(self) -> Decimal:
        return self.spent + self.running

    @property
    def percent(self) -> int | None:
        if self.limit is None:
            return None
        if self.limit <= 0:
            return 100
        return int(self.used * 100 / self.limit)

    @property
    def left(self) -> Decimal | None:
        if self.limit is None:
            return None
        return max(Decimal(0), self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def budget_of(account: BillingAccount) -> Budget:
    return Budget(
        account.monthly_budget_usd, spent_this_month(account.team_id), running_cost(account.team_id)
    )


def estimated_cost(run) -> Decimal | None:
    """The configuration page's expected cost of this run (None: no estimate; the CPU is $0)."""
    from apps.training.configuration import quote

    result = quote(
        run.dataset_version, run.base_model, run.hardware, run.method, run.epochs, run.max_examples
    )
    if result.estimate is not None:
        return Decimal(str(result.estimate.cost)).quantize(MONEY)
    return Decimal(0) if run.hardware.is_cpu else None


@dataclass
class StartCheck:
    estimate: Decimal | None
    budget: Budget
    over_budget: str = ""  # the sentence, when the estimate is more than what is left
    too_many_runs: str = ""


def start_check(run) -> StartCheck:
    """The checklist's billing lines: the estimate against the budget, the plan's run limit."""
    from apps.training.models import RunStatus, TrainingRun

    account = account_for(run.project.team_id)
    check = StartCheck(estimated_cost(run), budget_of(account))
    budget = check.budget
    if budget.exceeded:
        check.over_budget = (
            f"This month's ${budget.limit:.2f} budget is used up (${budget.used:.2f}). An owner "
            "can start it anyway, or raise the budget."
        )
    elif budget.limit is not None and check.estimate is not None and check.estimate > budget.left:
        check.over_budget = (
            f"The estimate (${check.estimate:.2f}) is more than what is left of this month's "
            f"${budget.limit:.2f} budget (${budget.left:.2f}). An owner can start it anyway, or "
            "raise the budget."
        )
    plan = account.effective_plan
    active = (
        TrainingRun.objects.filter(
            project__team_id=account.team_id,
            status__in=[
                RunStatus.QUEUED,
                RunStatus.PROVISIONING,
                RunStatus.RUNNING,
                RunStatus.STOPPING,
            ],
        )
        .exclude(pk=run.pk)
        .count()
    )
    if active >= plan.concurrent_runs:
        check.too_many_runs = (
            f"The {plan.name} plan trains {plan.concurrent_runs} run"
            f"{'s' if plan.concurrent_runs > 1 else ''} at a time and this team has {active} "
            "queued or running. Wait for one to finish, or upgrade the plan."
        )
    return check


def enforce(account: BillingAccount) -> list[str]:
    """Alerts, and the stop at the limit. Returns what it did, in words."""
    budget = budget_of(account)
    done: list[str] = []
    if budget.limit is None:
        if account.spending_stopped_at:
            _resume(account)
            done.append("no budget: spending resumed")
        return done
    # Levels already sent, for this month and this budget: a new budget arms them again.
    key = f"{month_key()}:{budget.limit:.2f}"
    before = set(account.alerts_sent.get(key, []))
    sent = set(before)
    for level in ALERT_LEVELS:
        if budget.percent >= level and level not in sent:
            sent.add(level)
            done.append(f"alert {level}%")
            _send_alert(account, level, budget)
    if sent != before:
        BillingAccount.objects.filter(pk=account.pk).update(
            alerts_sent={key: sorted(sent)}  # other months' and budgets' entries are done with
        )
    if budget.exceeded:
        for run in running_runs(account.team_id):
            if _stop_for_budget(run, budget):
                done.append(f"stopped {run}")
        if account.spending_stopped_at is None:
            BillingAccount.objects.filter(pk=account.pk).update(spending_stopped_at=timezone.now())
            _limits_changed()
            done.append("spending stopped")
    elif account.spending_stopped_at:
        _resume(account)
        done.append("spending resumed")
    return done


def _resume(account) -> None:
    BillingAccount.objects.filter(pk=account.pk).update(spending_stopped_at=None)
    _limits_changed()


def _stop_for_budget(run, budget: Budget) -> bool:
    """The training issue's Stop: save a checkpoint, end after the step; the run says why."""
    from apps.training.models import InvalidTransition, RunStatus, TrainingRun
    from apps.training.reporting import DatabaseReporter
    from apps.training.tasks import run_folder

    if run.status != RunStatus.RUNNING:
        return False
    with transaction.atomic():
        TrainingRun.objects.filter(pk=run.pk).update(stop_requested=True)
        try:
            run.transition(RunStatus.STOPPING)
        except InvalidTransition:
            return False
    DatabaseReporter(run, run_folder(run) / "train.log").alert(
        "budget",
        f"Stopped: the team's ${budget.limit:.2f} monthly budget was reached "
        f"(${budget.used:.2f} used). The last checkpoint is kept: raise the budget and resume.",
    )
    return True


def _send_alert(account, level: int, budget: Budget) -> None:
    from .tasks import send_budget_alert

    transaction.on_commit(
        lambda: send_budget_alert.delay(str(account.team_id), level, str(budget.used))
    )


def _limits_changed() -> None:
    from apps.endpoints.gateway.directory import bump

    bump()
