"""The budget alert e-mail: who on a team is told that it crossed 50, 80 or 100% of its monthly
budget, and what it says. `tasks.send_budget_alert` calls `send_budget_alert`."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from apps.accounts.webhooks import tell_managers

from .models import BillingAccount


def send_budget_alert(team_id: str, level: int, used: str) -> int:
    """Tell the team's owners and admins (e-mail, and the team's alert webhook); returns how
    many messages went (0: nobody to tell, or no budget any more)."""
    account = BillingAccount.objects.select_related("team").get(team_id=team_id)
    if account.monthly_budget_usd is None:
        return 0
    limit = account.monthly_budget_usd
    what = (
        "Training runs were stopped with a checkpoint"
        + ("" if account.allow_overage else " and endpoints answer 402")
        + " until the budget is raised or the month ends."
        if level >= 100
        else "Nothing was stopped."
    )
    return tell_managers(
        team_id,
        f"VibeFlow: {account.team.name} has used {level}% of its monthly budget",
        f"{account.team.name} has used ${Decimal(used):.2f} of its ${limit:.2f} budget "
        f"this month ({level}%). {what}\n\n"
        f"Usage and budget: {settings.VIBEFLOW_PUBLIC_URL or ''}/teams/{team_id}/usage/\n",
    )
