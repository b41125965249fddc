"""A queued run trains on the bundled model and records what happened; stop, cancel, failure, redelivery."""

import pytest
from django.urls import reverse

from apps.training.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
from apps.training.tasks import run_training

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_a_queued_run_trains_and_records_everything(queued_run):
    assert run_training(str(queued_run.pk)) == "succeeded"
    run = TrainingRun.objects.get(pk=queued_run.pk)
    assert run.status == RunStatus.SUCCEEDED and run.started_at and run.finished_at
    assert run.steps_done == run.total_steps == 2  # 8 training examples / batch 4
    assert run.tokens_seen > 0 and run.adapter_dir.endswith("adapter")
    assert MetricPoint.objects.filter(run=run).count() == 2
    assert Checkpoint.objects.filter(run=run).exists()
    assert "Training started" in run.log_tail and "trainable parameters" in run.log_tail
    # It is evaluated by itself: one evaluation queued, against its own test split.
    evaluation = run.evaluations.get()
    assert evaluation.status == "queued" and evaluation.dataset_version == run.dataset_version
    assert "Evaluation queued" in run.log_tail
    # A redelivered task finds the run finished and does nothing.
    assert run_training(str(run.pk)) == "skipped"


def test_a_queued_run_can_be_cancelled(login, owner, queued_run):
    login(owner).post(reverse("run_stop", args=[queued_run.pk]))
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.CANCELLED
    assert run_training(str(queued_run.pk)) == "skipped"


def test_a_failure_ends_failed_with_a_sentence(queued_run):
    TrainingRun.objects.filter(pk=queued_run.pk).update(method="qlora")
    assert run_training(str(queued_run.pk)) == "failed"
    run = TrainingRun.objects.get(pk=queued_run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error == "QLoRA needs an NVIDIA GPU: choose LoRA on this machine, or a GPU."


def test_stop_and_progress_are_team_only(login, outsider, viewer, queued_run):
    assert login(outsider).post(reverse("run_stop", args=[queued_run.pk])).status_code == 404
    assert login(outsider).get(reverse("run_progress", args=[queued_run.pk])).status_code == 404
    assert login(viewer).post(reverse("run_stop", args=[queued_run.pk])).status_code == 403
    assert login(outsider).post(reverse("run_resume", args=[queued_run.pk])).status_code == 404
    assert login(viewer).post(reverse("run_resume", args=[queued_run.pk])).status_code == 403
    assert login(viewer).get(reverse("run_progress", args=[queued_run.pk])).status_code == 200
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED


def test_the_project_shows_training_while_a_run_is_active(queued_run):
    from apps.projects.models import ProjectStatus

    queued_run.project.refresh_from_db()
    assert queued_run.project.status == ProjectStatus.TRAINING
    queued_run.transition(RunStatus.CANCELLED)
    queued_run.project.refresh_from_db()
    assert queued_run.project.status == ProjectStatus.DRAFT


@pytest.mark.slow
def test_a_stopped_run_resumes_from_its_checkpoint(login, owner, queued_run):
    from apps.training import runner

    TrainingRun.objects.filter(pk=queued_run.pk).update(epochs=2)  # 4 steps in all
    real_should_stop = runner.DatabaseReporter.should_stop
    calls = {"n": 0}

    def stop_after_first_step(self):
        calls["n"] += 1
        return calls["n"] >= 1

    runner.DatabaseReporter.should_stop = stop_after_first_step
    try:
        assert run_training(str(queued_run.pk)) == "stopped"
    finally:
        runner.DatabaseReporter.should_stop = real_should_stop
    run = TrainingRun.objects.get(pk=queued_run.pk)
    assert run.steps_done == 1 and Checkpoint.objects.filter(run=run, step=1).exists()

    login(owner).post(reverse("run_resume", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run_training(str(run.pk)) == "succeeded"
    run.refresh_from_db()
    assert run.steps_done == 4
    assert list(MetricPoint.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3, 4]
    assert "Resuming from the checkpoint at step 1" in run.log_tail


def test_only_a_stopped_run_resumes(login, owner, queued_run):
    login(owner).post(reverse("run_resume", args=[queued_run.pk]))
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED  # unchanged, with a message
