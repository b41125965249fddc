from .access import current_membership


def teams(request):
    """The current team and the user's teams, for the top bar's switcher and the sidebar."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    if not hasattr(request, "_vibeflow_membership"):
        request._vibeflow_membership = current_membership(request)
    membership = request._vibeflow_membership
    return {
        "current_membership": membership,
        "current_team": membership.team if membership else None,
        "my_memberships": request.user.memberships.select_related("team").order_by("team__name"),
    }
