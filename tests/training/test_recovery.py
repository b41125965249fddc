"""The reaper and the heartbeat: a run whose worker went quiet is queued again, ended, or failed."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.training.models import Checkpoint, RunStatus, TrainingRun
from apps.training.recovery import Heartbeat
from apps.training.tasks import reap_lost_runs

pytestmark = pytest.mark.django_db


def running(run, *, silent_for: float, attempts=1, status=RunStatus.RUNNING):
    run.transition(RunStatus.RUNNING)
    if status == RunStatus.STOPPING:
        run.transition(RunStatus.STOPPING)
    TrainingRun.objects.filter(pk=run.pk).update(
        attempts=attempts, heartbeat_at=timezone.now() - timedelta(seconds=silent_for)
    )
    run.refresh_from_db()
    return run


def test_a_silent_run_is_queued_again_to_resume_from_its_checkpoint(
    queued_run, tmp_path, django_capture_on_commit_callbacks, settings
):
    run = running(queued_run, silent_for=settings.TRAINING_STALE_AFTER_S + 5)
    Checkpoint.objects.create(run=run, step=4, path=str(tmp_path))
    with django_capture_on_commit_callbacks() as sent:
        assert reap_lost_runs() == [f"{run.pk}: queued"]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert "queued again to resume from the checkpoint at step 4" in run.log_tail
    # run_training is sent again once the change is committed
    assert sum("run_training" in repr(callback) for callback in sent) == 1


def test_a_run_that_beats_is_left_alone(queued_run, settings):
    run = running(queued_run, silent_for=settings.TRAINING_STALE_AFTER_S - 5)
    assert reap_lost_runs() == []
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_a_run_lost_too_often_fails_with_a_sentence(queued_run, settings):
    run = running(
        queued_run,
        silent_for=settings.TRAINING_STALE_AFTER_S + 5,
        attempts=settings.TRAINING_MAX_ATTEMPTS,
    )
    assert reap_lost_runs() == [f"{run.pk}: failed"]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"The worker training this run was lost {run.attempts} times")


def test_a_run_lost_while_stopping_keeps_its_last_checkpoint(queued_run, tmp_path, settings):
    run = running(
        queued_run, silent_for=settings.TRAINING_STALE_AFTER_S + 5, status=RunStatus.STOPPING
    )
    Checkpoint.objects.create(run=run, step=3, path=str(tmp_path))
    assert reap_lost_runs() == [f"{run.pk}: stopped"]
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    assert run.adapter_dir == str(tmp_path) and run.steps_done == 3


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_beats_and_notices_a_takeover(seeded_catalog, queued_run):
    run = running(queued_run, silent_for=600)
    before = run.heartbeat_at
    with Heartbeat(run.pk, attempt=1, interval=0.05) as heartbeat:
        time.sleep(0.3)
        run.refresh_from_db()
        assert run.heartbeat_at > before and not heartbeat.superseded
        # The reaper gave the run to another worker (a second claim): this one must let go.
        TrainingRun.objects.filter(pk=run.pk).update(attempts=2)
        time.sleep(0.3)
        assert heartbeat.superseded


def test_a_heartbeat_that_cannot_see_its_run_does_not_stop_it(queued_run):
    """The run row is in this test's open transaction: the heartbeat's own connection sees no
    row, which must not read as a takeover (it did, and stopped a real run in CI)."""
    run = running(queued_run, silent_for=0)
    with Heartbeat(run.pk, attempt=1, interval=0.05) as heartbeat:
        time.sleep(0.3)
    assert not heartbeat.superseded
