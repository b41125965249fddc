"""Billing's periodic jobs (default queue, Celery beat) and the budget alert e-mail."""

from __future__ import annotations

from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from . import budgets, reporting
from .models import BillingAccount


@shared_task
def report_usage() -> dict:
    return reporting.report_usage()


@shared_task
def enforce_budgets() -> int:
    """Alerts and stops for every team with a budget, or stopped spending to lift."""
    acted = 0
    for account in BillingAccount.objects.filter(
        monthly_budget_usd__isnull=False
    ) | BillingAccount.objects.filter(spending_stopped_at__isnull=False):
        acted += bool(budgets.enforce(account))
    return acted


@shared_task
def send_budget_alert(team_id: str, level: int, used: str) -> int:
    from apps.accounts.models import ROLES_THAT_MANAGE_MEMBERS, Membership

    account = BillingAccount.objects.select_related("team").get(team_id=team_id)
    recipients = list(
        Membership.objects.filter(team_id=team_id, role__in=ROLES_THAT_MANAGE_MEMBERS)
        .values_list("user__email", flat=True)
        .distinct()
    )
    if not recipients or account.monthly_budget_usd is None:
        return 0
    limit = account.monthly_budget_usd
    what = (
        "Training runs were stopped with a checkpoint"
        + ("" if account.allow_overage else " and endpoints answer 402")
        + " until the budget is raised or the month ends."
        if level >= 100
        else "Nothing was stopped."
    )
    return send_mail(
        subject=f"VibeFlow: {account.team.name} has used {level}% of its monthly budget",
        message=(
            f"{account.team.name} has used ${Decimal(used):.2f} of its ${limit:.2f} budget "
            f"this month ({level}%). {what}\n\n"
            f"Usage and budget: {settings.VIBEFLOW_PUBLIC_URL or ''}/teams/{team_id}/usage/\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )
