from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.accounts.access import get_membership, require_write
from apps.accounts.models import Membership

from .models import TrainingRun


def get_run_for_user(user, run_id, *, write: bool = False) -> tuple[TrainingRun, Membership]:
    try:
        run = TrainingRun.objects.select_related(
            "project__team", "base_model", "hardware", "dataset_version__dataset"
        ).get(pk=run_id)
    except (TrainingRun.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    membership = get_membership(user, run.project.team_id)
    if write:
        require_write(membership)
    return run, membership
