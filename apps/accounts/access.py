"""Who may see and change what. Views, consumers and tasks all ask here.

An object of a team the user does not belong to does not exist for that user
(404, never 403: a 403 would confirm the object is there). A member whose role
cannot write gets PermissionDenied with a sentence saying why.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from .models import Membership, Team

SESSION_KEY = "current_team_id"


def get_membership(user, team_id) -> Membership:
    if not user.is_authenticated:
        raise Http404
    try:
        return Membership.objects.select_related("team").get(team_id=team_id, user=user)
    except (Membership.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404 from None


def require_write(membership: Membership) -> None:
    if not membership.can_write:
        raise PermissionDenied(
            "Viewers can look but not change anything. Ask a team admin for the member role."
        )


def require_manage_members(membership: Membership) -> None:
    if not membership.can_manage_members:
        raise PermissionDenied("Only the team's owners and admins can manage members.")


def get_team_for_user(
    user, team_id, *, write: bool = False, manage: bool = False
) -> tuple[Team, Membership]:
    membership = get_membership(user, team_id)
    if write:
        require_write(membership)
    if manage:
        require_manage_members(membership)
    return membership.team, membership


def current_membership(request) -> Membership | None:
    """The team the user is working in: the one chosen with the switcher, else their first."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("team").filter(user=user)
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        for membership in memberships:
            if str(membership.team_id) == chosen:
                return membership
    # Personal team first, then the oldest membership.
    membership = memberships.order_by("-team__personal", "created_at").first()
    if membership is None:
        # Someone who left every team (possible when their personal team had a
        # second owner) gets a fresh personal team rather than pages with no team.
        from .teams import create_personal_team

        team = create_personal_team(user)
        membership = Membership.objects.select_related("team").get(team=team, user=user)
    return membership


def set_current_team(request, team: Team) -> None:
    request.session[SESSION_KEY] = str(team.pk)
