from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.accounts.access import get_membership, require_write
from apps.accounts.models import Membership

from .models import Evaluation


def get_evaluation_for_user(
    user, evaluation_id, *, write: bool = False
) -> tuple[Evaluation, Membership]:
    """Another team's evaluation is a 404, like every object of this product."""
    try:
        evaluation = Evaluation.objects.select_related(
            "project__team", "run", "base_model", "dataset_version__dataset"
        ).get(pk=evaluation_id)
    except (Evaluation.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    membership = get_membership(user, evaluation.project.team_id)
    if write:
        require_write(membership)
    return evaluation, membership
