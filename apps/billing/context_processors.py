from .metering import account_for


def billing_banner(request):
    """One sentence above every page when the current team's billing needs attention."""
    team = getattr(request, "_vibeflow_membership", None)
    team_id = team.team_id if team else None
    if team_id is None:
        return {}
    account = account_for(team_id)
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
    return {}
