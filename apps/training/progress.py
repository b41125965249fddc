"""What a run or an evaluation is waiting for, in words for its page.

Two things the status alone does not say:
- its place in the `gpu` queue: the training runs and evaluations ahead of it, counted in our own
  tables (what runs or was queued before it), not in the broker;
- that the worker training a run stopped answering (its heartbeat went quiet, see recovery.py),
  or was lost and the run waits to resume, until a worker takes it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import RunStatus, TrainingRun


@dataclass(frozen=True)
class Ahead:
    runs: int = 0
    evaluations: int = 0

    @property
    def total(self) -> int:
        return self.runs + self.evaluations


def jobs_ahead(since, *, run_id=None, evaluation_id=None) -> Ahead:
    """The `gpu` queue's jobs before one queued at ``since``: every run or evaluation running
    now, and those queued earlier. A run a RunPod pod trains is not in that queue."""
    from apps.catalog.executors import RUNPOD, executor_for
    from apps.evaluations.models import EvalStatus, Evaluation

    runs = (
        TrainingRun.objects.filter(remote_pod_id="")
        .exclude(pk=run_id)
        .filter(status__in=(RunStatus.RUNNING, RunStatus.STOPPING))
        .count()
    )
    queued = (
        TrainingRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=since)
        .exclude(pk=run_id)
        .select_related("hardware")
    )
    runs += sum(1 for run in queued if executor_for(run.hardware).kind != RUNPOD)
    evaluations = (
        Evaluation.objects.exclude(pk=evaluation_id).filter(status=EvalStatus.RUNNING).count()
        + Evaluation.objects.exclude(pk=evaluation_id)
        .filter(status=EvalStatus.QUEUED, created_at__lt=since)
        .count()
    )
    return Ahead(runs, evaluations)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def waiting_line(ahead: Ahead) -> str:
    """'Queued behind 2 jobs (1 training run, 1 evaluation): …', or that a worker is awaited."""
    if not ahead.total:
        return "Nothing is ahead of it: it starts as soon as the server picks it up."
    parts = [
        _plural(ahead.runs, "training run") if ahead.runs else "",
        _plural(ahead.evaluations, "evaluation") if ahead.evaluations else "",
    ]
    return (
        f"Queued behind {_plural(ahead.total, 'job')} ({', '.join(p for p in parts if p)}): "
        "it starts when the server is free."
    )


def run_waiting(run: TrainingRun) -> str:
    """The queue line of a queued run that a worker of this installation takes ("" otherwise)."""
    from apps.catalog.executors import RUNPOD, executor_for

    if run.status != RunStatus.QUEUED or executor_for(run.hardware).kind == RUNPOD:
        return ""
    return waiting_line(jobs_ahead(run.queued_at or run.updated_at, run_id=run.pk))


def evaluation_waiting(evaluation) -> str:
    if evaluation.status != "queued":
        return ""
    return waiting_line(jobs_ahead(evaluation.created_at, evaluation_id=evaluation.pk))


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
