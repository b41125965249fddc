"""Progress that tells the truth: what a queued run or evaluation waits for, a run whose worker
was lost says so until it resumes, and counters go on across a resume."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import BaseModel, Hardware
from apps.evaluations.models import EvalStatus, Evaluation
from apps.evaluations.reporting import DatabaseEvalReporter
from apps.training.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
from apps.training.tasks import reap_lost_runs

pytestmark = pytest.mark.django_db


def other_run(project, status, **fields):
    run = TrainingRun.create_next(
        project,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
    )
    TrainingRun.objects.filter(pk=run.pk).update(status=status, **fields)
    return run


def evaluation_of(version, status, created_at=None):
    evaluation = Evaluation.objects.create(
        project=version.dataset.project,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        dataset_version=version,
        status=status,
    )
    if created_at:
        Evaluation.objects.filter(pk=evaluation.pk).update(created_at=created_at)
    return evaluation


def test_a_queued_run_and_evaluation_say_how_many_jobs_are_ahead(login, owner, queued_run, project):
    client = login(owner)
    page = client.get(reverse("run_progress", args=[queued_run.pk])).content.decode()
    assert "Nothing is ahead of it: it starts as soon as the server picks it up." in page

    earlier = queued_run.queued_at - timedelta(minutes=5)
    other_run(project, RunStatus.RUNNING, queued_at=earlier)
    other_run(project, RunStatus.QUEUED, queued_at=earlier)
    other_run(project, RunStatus.QUEUED, queued_at=queued_run.queued_at + timedelta(minutes=1))
    other_run(project, RunStatus.SUCCEEDED, queued_at=earlier)  # done: not ahead of anything
    version = queued_run.dataset_version
    evaluation_of(version, EvalStatus.RUNNING, created_at=earlier)
    evaluation_of(version, EvalStatus.FAILED, created_at=earlier)

    page = client.get(reverse("run_progress", args=[queued_run.pk])).content.decode()
    assert (
        "Queued behind 3 jobs (2 training runs, 1 evaluation): it starts when the server is free."
        in page
    )

    # An evaluation queued now is behind them and the run above, not the run queued after it.
    waiting = evaluation_of(version, EvalStatus.QUEUED)
    page = client.get(reverse("evaluation_progress", args=[waiting.pk])).content.decode()
    assert "Queued behind 4 jobs (3 training runs, 1 evaluation)" in page


def test_a_run_whose_worker_went_quiet_says_so_until_it_resumes(
    login, owner, queued_run, settings, tmp_path
):
    client = login(owner)
    queued_run.transition(RunStatus.RUNNING)
    Checkpoint.objects.create(run=queued_run, step=10, path=str(tmp_path))
    TrainingRun.objects.filter(pk=queued_run.pk).update(
        attempts=1, steps_done=13, total_steps=33, heartbeat_at=timezone.now()
    )
    url = reverse("run_progress", args=[queued_run.pk])
    lost = (
        "The server training this run stopped answering at step 13; "
        "it will resume from the last checkpoint (step 10)"
    )
    assert lost not in client.get(url).content.decode()  # it beats: all is well

    TrainingRun.objects.filter(pk=queued_run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.TRAINING_STALE_AFTER_S + 5)
    )
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert lost + "." in page
    # The header's badge follows the polled panel (swapped out of band), and neither says Running.
    assert (
        '<span id="run-status-badge" class="badge" hx-swap-oob="true">Not responding</span>' in page
    )
    assert "<strong>Running</strong>" not in page

    # The reaper queues it again: the page keeps saying why, until a worker takes it.
    reap_lost_runs()
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED
    page = client.get(url).content.decode()
    assert lost + " when the server is free." in page
    assert "<strong>Waiting to resume</strong>" in page
    detail = client.get(reverse("run_config", args=[queued_run.pk])).content.decode()
    assert '<span id="run-status-badge" class="badge">Waiting to resume</span>' in detail

    queued_run.transition(RunStatus.RUNNING)  # claimed again
    TrainingRun.objects.filter(pk=queued_run.pk).update(attempts=2, heartbeat_at=timezone.now())
    page = client.get(url).content.decode()
    assert lost not in page and "<strong>Running</strong>" in page


def test_an_evaluation_step_keeps_its_clock_while_its_count_moves(queued_run):
    evaluation = evaluation_of(queued_run.dataset_version, EvalStatus.RUNNING)
    reporter = DatabaseEvalReporter(evaluation)
    reporter.stage("Loading the base model", 0.0)
    evaluation.refresh_from_db()
    loading = evaluation.stage_started_at
    assert loading is not None

    reporter.stage("Answering 0/40 test prompts with the base model", 0.0)
    evaluation.refresh_from_db()
    answering = evaluation.stage_started_at
    assert answering > loading
    reporter.stage("Answering 12/40 test prompts with the base model", 0.27)
    evaluation.refresh_from_db()
    assert evaluation.stage_started_at == answering  # the same step, further on
    assert evaluation.stage == "Answering 12/40 test prompts with the base model"


def test_the_evaluation_page_names_the_step_and_how_long_it_has_taken(login, owner, queued_run):
    evaluation = evaluation_of(queued_run.dataset_version, EvalStatus.RUNNING)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        stage="Loading the base model",
        progress=0.0,
        started_at=timezone.now() - timedelta(minutes=3, seconds=5),
        stage_started_at=timezone.now() - timedelta(minutes=2, seconds=5),
    )
    page = login(owner).get(reverse("evaluation_progress", args=[evaluation.pk])).content.decode()
    assert "Loading the base model… 0%" in page
    # a slow request may cross a second or two after the rows were stamped
    assert re.search(r"This step: 2 min [5-7] s so far · 3 min [5-7] s in all", page)


def test_counters_go_on_from_the_checkpoint_after_a_lost_worker(
    queued_run, tiny_model_dir, settings, monkeypatch
):
    """A worker lost at step 5 after the checkpoint at step 3: the run resumes there, and its
    tokens seen go on from the checkpoint's count (they fell back to a fresh count before)."""
    from apps.training import runner, tasks

    BaseModel.objects.filter(pk=queued_run.base_model_id).update(
        bundled=False, source=str(tiny_model_dir)
    )
    TrainingRun.objects.filter(pk=queued_run.pk).update(epochs=3, max_seq_length=128)  # 6 steps
    real_should_stop = runner.DatabaseReporter.should_stop
    monkeypatch.setattr(
        runner.DatabaseReporter,
        "should_stop",
        lambda self: TrainingRun.objects.get(pk=self.run_id).steps_done >= 2,  # stops at step 3
    )
    assert tasks.run_training(str(queued_run.pk)) == "stopped"
    at_checkpoint = MetricPoint.objects.get(run=queued_run, step=3).data["tokens_seen"]
    first_stretch = TrainingRun.objects.get(pk=queued_run.pk).wall_seconds

    # Resumed, it went on to step 5, and then its worker vanished.
    queued_run.refresh_from_db()
    queued_run.transition(RunStatus.QUEUED)
    queued_run.transition(RunStatus.RUNNING)
    TrainingRun.objects.filter(pk=queued_run.pk).update(
        attempts=1,
        steps_done=5,
        tokens_seen=at_checkpoint * 2,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.TRAINING_STALE_AFTER_S + 5),
    )
    assert reap_lost_runs() == [f"{queued_run.pk}: queued"]

    seen_at_first_step = []

    def spy(self):
        if not seen_at_first_step:
            seen_at_first_step.append(
                TrainingRun.objects.values("steps_done", "tokens_seen").get(pk=self.run_id)
            )
        return real_should_stop(self)

    monkeypatch.setattr(runner.DatabaseReporter, "should_stop", spy)
    assert tasks.run_training(str(queued_run.pk)) == "succeeded"
    # Until the first step after the resume, the run shows the checkpoint it goes on from.
    assert seen_at_first_step == [{"steps_done": 3, "tokens_seen": at_checkpoint}]
    points = {p.step: p.data for p in MetricPoint.objects.filter(run=queued_run)}
    assert points[4]["tokens_seen"] > at_checkpoint
    assert [points[s]["tokens_seen"] for s in range(1, 7)] == sorted(
        points[s]["tokens_seen"] for s in range(1, 7)
    )
    run = TrainingRun.objects.get(pk=queued_run.pk)
    assert run.tokens_seen == points[6]["tokens_seen"] and run.steps_done == 6
    assert run.wall_seconds > first_stretch
