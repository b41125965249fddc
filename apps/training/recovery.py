"""Crash recovery: a heartbeat while a worker trains, and a reaper for runs whose worker vanished.

A worker killed outright (kill -9, a lost node) acks nothing and says nothing: Celery only
redelivers its message after the broker's visibility timeout (hours, so long runs are not
handed out twice), and a redelivery after a lost pool process finds the run still marked
running. So liveness is ours: the task beats while it trains, and `reap_lost_runs` (Celery
beat, on the `default` queue so a busy GPU worker never delays it) queues a silent run
again. It resumes from its last checkpoint through the normal claim: the run's status,
changed under a row lock, stays the only lock on who trains it.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import RunStatus, TrainingRun
from .reporting import append_log

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.STOPPING)


class Heartbeat:
    """Writes the run's heartbeat from a thread while the engine trains.

    The write is conditioned on the attempt that claimed the run: if the reaper gave the run
    to another worker (this one was presumed dead), nothing is written and ``superseded``
    turns true, which the reporter turns into a stop.
    """

    def __init__(self, run_id, attempt: int, interval: float | None = None):
        self.run_id = run_id
        self.attempt = attempt
        self.interval = interval or settings.TRAINING_HEARTBEAT_S
        self.superseded = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _taken_over(self) -> bool:
        # Nothing written: another claim (attempts moved on) or the run ended under us. A row
        # this connection cannot see at all (a caller's uncommitted transaction) is neither.
        current = (
            TrainingRun.objects.filter(pk=self.run_id).values_list("attempts", "status").first()
        )
        return current is not None and (current[0] != self.attempt or current[1] not in ACTIVE)

    def _beat(self):
        try:
            while not self._done.wait(self.interval):
                try:
                    written = TrainingRun.objects.filter(
                        pk=self.run_id, attempts=self.attempt, status__in=ACTIVE
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    log.warning("heartbeat not written", exc_info=True)
                    continue
                if not written and self._taken_over():
                    self.superseded = True
        finally:
            connection.close()  # this thread's own connection


def lost_runs(now=None):
    now = now or timezone.now()
    local = Q(
        remote_pod_id="", heartbeat_at__lt=now - timedelta(seconds=settings.TRAINING_STALE_AFTER_S)
    )
    # A pod pulls its image and loads the model before its first call: a longer silence is normal.
    remote = ~Q(remote_pod_id="") & Q(
        heartbeat_at__lt=now - timedelta(seconds=settings.REMOTE_STALE_AFTER_S)
    )
    return TrainingRun.objects.filter(Q(status__in=ACTIVE) & (local | remote))


# What the reaper asks of the task that called it, once its transaction has committed.
TRAIN = "train"  # send the run to what trains it again (tasks.dispatch)
END_POD = "end pod"  # terminate the RunPod pod and bill its uptime (tasks.finish_remote)


def reap():
    """Queue again (or end) every active run whose worker stopped beating: yields (run, what was
    done, what to enqueue next), each after its own transaction committed."""
    for run_id in lost_runs().values_list("pk", flat=True):
        run, outcome, follow_up = _recover(run_id)
        if outcome:
            yield run, outcome, follow_up


def _recover(run_id) -> tuple[TrainingRun | None, str, str]:
    with transaction.atomic():
        run = (
            lost_runs()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("hardware")
            .filter(pk=run_id)
            .first()
        )
        if run is None:  # it beat again, ended, or another reaper has it
            return None, "", ""
        if run.remote_pod_id:
            # Its checkpoints are on the pod: nothing here to resume from. End it and the pod.
            return (
                run,
                _give_up(
                    run,
                    f"The RunPod pod {run.remote_pod_id} stopped answering; the run was ended and "
                    "the pod terminated. Start the run again.",
                ),
                END_POD,
            )
        last = run.checkpoints.order_by("-step").first()
        where = f"the checkpoint at step {last.step}" if last else "the start"
        if run.status == RunStatus.STOPPING:
            # A stop was asked and the worker died before it finished: the last checkpoint
            # is what the user gets.
            if last is not None and Path(last.path).is_dir():
                TrainingRun.objects.filter(pk=run.pk).update(
                    adapter_dir=last.path, steps_done=last.step
                )
                run.transition(RunStatus.STOPPED)
                append_log(run, f"The worker was lost while stopping; the run keeps {where}.")
                return run, "stopped", ""
            return (
                run,
                _give_up(run, "The worker was lost while stopping, before any checkpoint."),
                "",
            )
        if run.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            return (
                run,
                _give_up(
                    run,
                    f"The worker training this run was lost {run.attempts} times; it was not retried "
                    "again. Check the GPU node's logs, then start a new run.",
                ),
                "",
            )
        run.transition(RunStatus.QUEUED)
        append_log(
            run,
            f"The worker training this run stopped answering; queued again to resume from {where}.",
        )
        # Dispatched the way a start dispatches it, by the task, once this commits.
        return run, "queued", TRAIN


def _give_up(run, sentence: str) -> str:
    TrainingRun.objects.filter(pk=run.pk).update(error=sentence)
    run.transition(RunStatus.FAILED)
    append_log(run, sentence)
    return "failed"
