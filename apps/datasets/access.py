from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.accounts.access import get_membership, require_write
from apps.accounts.models import Membership

from .models import DatasetVersion


def get_version_for_user(
    user, version_id, *, write: bool = False
) -> tuple[DatasetVersion, Membership]:
    try:
        version = DatasetVersion.objects.select_related("dataset__project__team", "source").get(
            pk=version_id
        )
    except (DatasetVersion.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    membership = get_membership(user, version.dataset.project.team_id)
    if write:
        require_write(membership)
    return version, membership
