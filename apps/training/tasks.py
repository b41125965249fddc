"""The training app's Celery tasks, thin: each takes ids and calls a plain function. Training runs
go to the `gpu` queue; starting and ending RunPod pods and the reaper stay on `default`
(vibeflow_site/settings.py, CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from apps.catalog.executors import RUNPOD, executor_for

from . import recovery, remote, runner
from .models import TrainingRun


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_training(run_id: str) -> str:
    return runner.train_run(run_id)


@shared_task(acks_late=True)
def launch_on_runpod(run_id: str) -> str:
    return remote.launch(run_id)


@shared_task(acks_late=True)
def finish_remote(run_id: str) -> str:
    return remote.finish(run_id)


@shared_task
def reap_lost_runs() -> list[str]:
    """Queue again (or end) every active run whose worker stopped beating; returns what was done."""
    done = []
    for run, outcome, follow_up in recovery.reap():
        if follow_up == recovery.TRAIN:
            dispatch(run)
        elif follow_up == recovery.END_POD:
            finish_remote.delay(str(run.pk))
        done.append(f"{run.pk}: {outcome}")
    return done


# The names these two had before they moved here (2026-12-07): a message queued under one before
# an upgrade still starts its pod, or ends it (a pod left running bills on).
@shared_task(name="apps.training.remote.launch_on_runpod", acks_late=True)
def launch_on_runpod_old_name(run_id: str) -> str:
    return remote.launch(run_id)


@shared_task(name="apps.training.remote.finish_remote", acks_late=True)
def finish_remote_old_name(run_id: str) -> str:
    return remote.finish(run_id)


def dispatch(run: TrainingRun) -> None:
    """Send a queued run to what trains it, after commit: a RunPod pod for a RunPod GPU, else
    this installation's `gpu` worker (a GPU run is never picked up by a CPU worker). A merge
    always runs on that worker (history.merge_hardware)."""
    if executor_for(run.hardware).kind == RUNPOD and not run.is_merge:
        launch_on_runpod.delay_on_commit(str(run.pk))
    else:
        run_training.delay_on_commit(str(run.pk))
