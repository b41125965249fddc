"""kill -9 a real Celery worker mid-run: the run is not left running, and it finishes on another
worker from its last checkpoint, its step count going on instead of starting again."""

import pytest
from django.urls import reverse

from apps.training.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
from tests.training.helpers import draft_run

from .conftest import _child, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST_RECOVERY = {
    "TRAINING_HEARTBEAT_S": "0.5",
    "TRAINING_STALE_AFTER_S": "4",
    "TRAINING_REAPER_INTERVAL_S": "1",
}
WORKER = ["celery", "-A", "vibeflow_site", "worker", "-Q", "default,gpu", "--pool", "solo"]


def test_a_killed_worker_s_run_resumes_on_another_worker(seeded_catalog, login, owner, project):
    client = login(owner)
    # 8 training examples, batch 4: 2 steps and a checkpoint per epoch, 6 steps in all.
    run = draft_run(client, project, epochs=3, batch_size=4, gradient_accumulation=1)

    with _child([*WORKER, "-l", "warning"], "worker-killed.log", FAST_RECOVERY) as first:
        client.post(reverse("run_start", args=[run.pk]))
        wait_for(
            lambda: Checkpoint.objects.filter(run=run, step__gte=2).exists(),
            300,
            "the first checkpoint",
        )
        first.kill()  # SIGKILL: no cleanup, no ack, no last word
        first.wait(10)
    killed_at = TrainingRun.objects.get(pk=run.pk)
    assert killed_at.status == RunStatus.RUNNING and killed_at.attempts == 1
    resumed_from = Checkpoint.objects.filter(run=run).order_by("-step").first().step

    with _child([*WORKER, "-B", "-l", "warning"], "worker-recovering.log", FAST_RECOVERY):
        wait_for(
            lambda: (
                TrainingRun.objects.get(pk=run.pk).status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
            ),
            300,
            "the run to finish on the second worker",
        )
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 2 and run.steps_done == 6
    assert list(MetricPoint.objects.filter(run=run).values_list("step", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    log = run.log_path.read_text()
    assert "stopped answering; queued again to resume from the checkpoint" in log
    assert f"Training resumed from checkpoint-{resumed_from}" in log
    assert log.count("Training started") == 1  # never from step 0 again
