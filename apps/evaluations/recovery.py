"""An evaluation whose worker died is not left "running" forever.

Evaluations are cheap to redo, so a silent one is failed with a sentence rather than resumed;
`tasks.reap_lost_evaluations` calls `reap` from Celery beat, routed to the `default` queue by
name (the rest of apps.evaluations.tasks goes to the `gpu` queue, where a busy worker would delay it).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing.metering import record_evaluation

from .models import EvalStatus, Evaluation
from .signals import announce_finished


def reap() -> int:
    """Fail every running evaluation whose worker went quiet; returns how many."""
    stale_before = timezone.now() - timedelta(seconds=settings.EVALUATION_STALE_AFTER_S)
    lost = 0
    for evaluation in Evaluation.objects.filter(
        status=EvalStatus.RUNNING, heartbeat_at__lt=stale_before
    ).select_related("project", "run__hardware"):
        with transaction.atomic():
            # Billed up to its last sign of life, not until now.
            finished = evaluation.heartbeat_at
            updated = Evaluation.objects.filter(pk=evaluation.pk, status=EvalStatus.RUNNING).update(
                status=EvalStatus.FAILED,
                error="The server running this evaluation stopped answering. "
                "Evaluate the version again.",
                finished_at=finished,
            )
            if updated:
                lost += 1
                evaluation.finished_at = finished
                record_evaluation(evaluation)
                announce_finished(evaluation)
    return lost
