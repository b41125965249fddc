"""A queued run's or evaluation's place in the `gpu` queue, in words for its page: the training
runs and evaluations ahead of it, counted in our own tables (what runs or was queued before it),
not in the broker."""

from __future__ import annotations

from dataclasses import dataclass

from apps.catalog.executors import RUNPOD, executor_for
from apps.training.models import RunStatus, TrainingRun

from .models import EvalStatus, Evaluation


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
    if run.status != RunStatus.QUEUED or executor_for(run.hardware).kind == RUNPOD:
        return ""
    return waiting_line(jobs_ahead(run.queued_at or run.updated_at, run_id=run.pk))


def evaluation_waiting(evaluation) -> str:
    if evaluation.status != "queued":
        return ""
    return waiting_line(jobs_ahead(evaluation.created_at, evaluation_id=evaluation.pk))
