"""The demo's finished example: the sample imported and analysed, a version trained on this
machine, its evaluation queued by the run, and a deployment queued when that evaluation ends,
whatever happened in between; again is a no-op."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.accounts.demo import DEMO_EMAIL
from apps.accounts.models import User
from apps.endpoints.models import Deployment
from apps.evaluations.models import EvalStatus, Evaluation
from apps.evaluations.services import queue_for_run
from apps.evaluations.signals import evaluation_finished
from apps.evaluations.tasks import run_evaluation
from apps.projects.models import Project
from apps.training.models import RunStatus, TrainingRun
from apps.workspace.showcase import SHOWCASE_NAME
from apps.workspace.tasks import prepare_showcase
from tests.evaluation.conftest import trained_run  # noqa: F401, F811  (a fixture)
from tests.training.conftest import queued_run  # noqa: F401  (a fixture)
from workers.training import ModelSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_source(monkeypatch, tiny_model_dir):
    """Train the tiny random model instead of the bundled one: the steps are what is tested."""

    def tiny(model):
        return ModelSource("path", str(tiny_model_dir))

    monkeypatch.setattr("apps.training.runner.model_source", tiny)
    monkeypatch.setattr("apps.evaluations.runner.model_source", tiny)


def test_seed_then_prepare_makes_a_trained_evaluated_deployed_project(
    tiny_source, django_capture_on_commit_callbacks
):
    call_command("seed_demo", "--showcase")
    user = User.objects.get(email=DEMO_EMAIL)
    names = set(Project.objects.filter(created_by=user).values_list("name", flat=True))
    assert names == {"Customer Support Bot", SHOWCASE_NAME}  # an empty one and the example
    project = Project.objects.get(name=SHOWCASE_NAME)
    assert project.showcase

    # Trained; the run queued its evaluation, and the deployment waits for it to end.
    assert prepare_showcase(str(project.pk)) == "waiting for its evaluation"
    run = project.runs.get()
    assert run.status == RunStatus.SUCCEEDED and run.epochs == 2 and run.hardware.is_cpu
    assert run.dataset_version.train_count > 200
    evaluation = Evaluation.objects.get(run=run)  # queued by the run itself
    assert not Deployment.objects.filter(run=run).exists()

    # The run command restarted mid-training: the reaper's resume holds the run, so this start
    # leaves it alone (it used to answer "not trained" here, and nothing deployed it afterwards).
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    assert prepare_showcase(str(project.pk)).startswith("training elsewhere")
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    assert not Deployment.objects.filter(run=run).exists()

    # Its evaluation ends: the committed end is announced, and the showcase deploys.
    with django_capture_on_commit_callbacks() as callbacks:
        assert run_evaluation(str(evaluation.pk)) == EvalStatus.SUCCEEDED
    assert not Deployment.objects.filter(run=run).exists()  # nothing before the commit
    for callback in callbacks:
        callback()
    assert Deployment.objects.filter(run=run).count() == 1

    # Again (the next start of the run command): nothing new.
    assert prepare_showcase(str(project.pk)) == "ready"
    assert project.runs.count() == 1 and Deployment.objects.filter(run=run).count() == 1


def test_only_the_seeded_example_deploys_by_itself(trained_run, owner):  # noqa: F811
    # A user's own project, even one named like the example: its evaluation ends, nothing deploys.
    project = trained_run.project
    Project.objects.filter(pk=project.pk).update(name=SHOWCASE_NAME)
    evaluation = queue_for_run(trained_run, owner)
    Evaluation.objects.filter(pk=evaluation.pk).update(status=EvalStatus.SUCCEEDED)
    evaluation.refresh_from_db()
    evaluation_finished.send(sender=Evaluation, evaluation=evaluation)
    assert not Deployment.objects.filter(run=trained_run).exists()

    # The example itself (the flag seed_demo sets) deploys on the same event.
    Project.objects.filter(pk=project.pk).update(showcase=True)
    evaluation.refresh_from_db()
    evaluation_finished.send(sender=Evaluation, evaluation=evaluation)
    assert Deployment.objects.filter(run=trained_run).count() == 1
    call_command("seed_demo", "--showcase")
    assert Project.objects.get(name=SHOWCASE_NAME, created_by__email=DEMO_EMAIL).showcase


def another_run(run) -> TrainingRun:
    """A queued run like ``run``, in its project."""
    new = TrainingRun.create_next(
        run.project,
        dataset_version=run.dataset_version,
        base_model=run.base_model,
        hardware=run.hardware,
        method="lora",
        created_by=run.created_by,
    )
    new.transition(RunStatus.QUEUED)
    return new


def test_a_showcase_run_lost_for_good_is_tried_afresh(
    queued_run,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    # The run command stopped during the first minutes, again and again: the reaper fails the
    # run. Nothing would train the example until the next start; its failure queues it again.
    queued = []
    monkeypatch.setattr(prepare_showcase, "delay", lambda project_id: queued.append(project_id))
    project = queued_run.project

    def fail(run):
        with django_capture_on_commit_callbacks(execute=True):
            run.transition(RunStatus.RUNNING)
            run.transition(RunStatus.FAILED)

    fail(queued_run)
    assert queued == []  # an ordinary project's failed run is the user's to look at

    Project.objects.filter(pk=project.pk).update(showcase=True)
    fail(another_run(queued_run))
    assert queued == [str(project.pk)]

    # A run that fails for a reason of its own would fail each time: three, then no more.
    fail(another_run(queued_run))
    assert queued == [str(project.pk)]
