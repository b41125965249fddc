from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.accounts.access import get_membership, require_write
from apps.accounts.models import Membership

from .models import Project


def get_project_for_user(user, project_id, *, write: bool = False) -> tuple[Project, Membership]:
    """The project if ``user`` belongs to its team (else 404); PermissionDenied if ``write`` and the role is read-only."""
    try:
        project = Project.objects.select_related("team").get(pk=project_id)
    except (Project.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    membership = get_membership(user, project.team_id)
    if write:
        require_write(membership)
    return project, membership
