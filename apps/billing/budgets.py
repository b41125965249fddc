"""A team's monthly budget: what is spent (usage events of this calendar month, UTC) plus what
running work is using now, the alerts at 50/80/100%, and what happens at the limit: runs stop
with a checkpoint, endpoints answer 402 unless the owner allowed overage, and a run whose
estimate exceeds what is left is refused at Start unless an owner overrides."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from celery import current_app
from django.db import models, transaction
from django.utils import timezone

from . import signals
from .metering import MONEY, account_for
from .models import BillingAccount, UsageEvent

ALERT_LEVELS = (50, 80, 100)
SEND_ALERT = "apps.billing.tasks.send_budget_alert"


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


def running_cost(team_id) -> Decimal:
    """What the team's work still going has used so far: billed when it ends, counted against
    the budget now. The apps doing the work answer (`signals.running_cost`)."""
    answers = signals.running_cost.send(BillingAccount, team_id=team_id)
    return sum((cost for _, cost in answers), Decimal(0)).quantize(MONEY)


@dataclass
class StartCheck:
    estimate: Decimal | None
    budget: Budget
    over_budget: str = ""  # the sentence, when the estimate is more than what is left
    too_many_runs: str = ""


def start_check(team_id, estimate: Decimal | None, active_runs: int) -> StartCheck:
    """The checklist's billing lines for starting a run that is expected to cost ``estimate``
    while ``active_runs`` others of the team are queued or running: the estimate against the
    budget, the plan's run limit."""
    account = account_for(team_id)
    check = StartCheck(estimate, budget_of(account))
    budget = check.budget
    if budget.exceeded:
        check.over_budget = (
            f"This month's ${budget.limit:.2f} budget is used up (${budget.used:.2f}). An owner "
            "can start it anyway, or raise the budget."
        )
    elif budget.limit is not None and estimate is not None and estimate > budget.left:
        check.over_budget = (
            f"The estimate (${estimate:.2f}) is more than what is left of this month's "
            f"${budget.limit:.2f} budget (${budget.left:.2f}). An owner can start it anyway, or "
            "raise the budget."
        )
    plan = account.effective_plan
    if active_runs >= plan.concurrent_runs:
        check.too_many_runs = (
            f"The {plan.name} plan trains {plan.concurrent_runs} run"
            f"{'s' if plan.concurrent_runs > 1 else ''} at a time and this team has {active_runs} "
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
        sentence = (
            f"Stopped: the team's ${budget.limit:.2f} monthly budget was reached "
            f"(${budget.used:.2f} used). The last checkpoint is kept: raise the budget and resume."
        )
        for _, stopped in signals.budget_exhausted.send(
            BillingAccount, team_id=account.team_id, sentence=sentence
        ):
            done += [f"stopped {what}" for what in stopped]
        if account.spending_stopped_at is None:
            BillingAccount.objects.filter(pk=account.pk).update(spending_stopped_at=timezone.now())
            _limits_changed()
            done.append("spending stopped")
    elif account.spending_stopped_at:
        _resume(account)
        done.append("spending resumed")
    return done


def enforce_all() -> int:
    """Alerts and stops for every team with a budget, or stopped spending to lift. Returns how
    many teams it acted on; `tasks.enforce_budgets` calls it from Celery beat."""
    acted = 0
    for account in BillingAccount.objects.filter(
        monthly_budget_usd__isnull=False
    ) | BillingAccount.objects.filter(spending_stopped_at__isnull=False):
        acted += bool(enforce(account))
    return acted


def _resume(account) -> None:
    BillingAccount.objects.filter(pk=account.pk).update(spending_stopped_at=None)
    _limits_changed()


def _send_alert(account, level: int, budget: Budget) -> None:
    # By name: tasks.py calls this module, so this module does not import it back.
    args = [str(account.team_id), level, str(budget.used)]
    transaction.on_commit(lambda: current_app.send_task(SEND_ALERT, args=args))


def _limits_changed() -> None:
    signals.limits_changed.send(BillingAccount)
