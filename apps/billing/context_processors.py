from .budgets import month_key
from .metering import account_for


def billing_banner(request):
    """One sentence above every page when the current team's billing needs attention."""
    membership = getattr(request, "_vibeflow_membership", None)
    if membership is None:
        return {}
    account = account_for(membership.team_id)
    if account.spending_stopped_at:
        return {
            "billing_banner": (
                "This team reached its monthly budget: training is stopped"
                + ("" if account.allow_overage else " and endpoints answer 402")
                + ". Raise the budget to go on."
            )
        }
    if account.payment_failed_at:
        if account.grace_expired:
            return {
                "billing_banner": "The last payment failed and the grace period is over: this "
                "team has Free limits until the payment method is fixed."
            }
        return {
            "billing_banner": f"The last payment failed. Update the payment method before "
            f"{account.grace_until:%b %-d} to keep the {account.plan.name} plan."
        }
    if account.monthly_budget_usd is not None:
        # The alert levels already sent this month for this budget (budgets.enforce).
        sent = account.alerts_sent.get(f"{month_key()}:{account.monthly_budget_usd:.2f}", [])
        if sent:
            return {
                "billing_banner": f"This team has used {max(sent)}% of its "
                f"${account.monthly_budget_usd:.2f} monthly budget."
            }
    return {}
