"""The evaluations app's Celery tasks, thin: each takes ids and calls a plain function. Running an
evaluation goes to the `gpu` queue; the reaper stays on `default` (vibeflow_site/settings.py,
CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from . import recovery, runner


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_evaluation(evaluation_id: str) -> str:
    return runner.run_evaluation(evaluation_id)


@shared_task
def reap_lost_evaluations() -> int:
    """On the `default` queue (settings): a busy or lost GPU worker never delays it."""
    return recovery.reap()
