"""What the status alone does not say, in words for the run's page: that the worker training a
run stopped answering (its heartbeat went quiet, see recovery.py), or was lost and the run waits
to resume, until a worker takes it again. (Its place in the `gpu` queue, which counts
evaluations too, is apps/evaluations/queue.py.)"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import RunStatus, TrainingRun

# Users meet "the server", not our process names (the worker, Celery): the log has the details.
SERVER = "The server training this run"


def _where(run: TrainingRun) -> str:
    return f"at step {run.steps_done}" if run.steps_done else "before its first step"


def worker_lost(run: TrainingRun, now=None) -> str:
    """A sentence when the run's worker went quiet or was lost and the run has not resumed yet;
    "" while all is well. Stays on the page until a worker claims the run again."""
    now = now or timezone.now()
    last = run.checkpoints.order_by("-step").first()
    resume = (
        f"it will resume from the last checkpoint (step {last.step})"
        if last
        else "it will start again from the beginning (no checkpoint was saved yet)"
    )
    if run.status == RunStatus.QUEUED and run.attempts:
        # Only the reaper queues a run that was claimed before (a user's resume resets attempts).
        return f"{SERVER} stopped answering {_where(run)}; {resume} when the server is free."
    if run.status not in (RunStatus.RUNNING, RunStatus.STOPPING) or run.heartbeat_at is None:
        return ""
    if run.remote_pod_id:
        if run.heartbeat_at >= now - timedelta(seconds=settings.REMOTE_STALE_AFTER_S):
            return ""
        return (
            f"The GPU pod stopped answering {_where(run)}; the run will be ended and the pod "
            "terminated."
        )
    if run.heartbeat_at >= now - timedelta(seconds=settings.TRAINING_STALE_AFTER_S):
        return ""
    if run.status == RunStatus.STOPPING:
        return f"{SERVER} stopped answering {_where(run)} while stopping; " + (
            f"the run keeps its last checkpoint (step {last.step})."
            if last
            else "the run will end: no checkpoint was saved."
        )
    if run.attempts >= settings.TRAINING_MAX_ATTEMPTS:
        return (
            f"{SERVER} stopped answering {_where(run)}; it was lost {run.attempts} times in "
            "all, so the run will be ended."
        )
    return f"{SERVER} stopped answering {_where(run)}; {resume}."
