"""The demo's finished example: the sample imported and analysed, a version trained on this
machine, its evaluation queued by the run, and a deployment of it queued; again is a no-op."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.accounts.demo import DEMO_EMAIL
from apps.accounts.models import User
from apps.endpoints.models import Deployment
from apps.evaluations.models import Evaluation
from apps.projects.models import Project
from apps.projects.showcase import SHOWCASE_NAME, prepare_showcase
from apps.training.models import RunStatus
from workers.training import ModelSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_source(monkeypatch, tiny_model_dir):
    """Train the tiny random model instead of the bundled one: the steps are what is tested."""
    monkeypatch.setattr(
        "apps.training.tasks.model_source", lambda model: ModelSource("path", str(tiny_model_dir))
    )


def test_seed_then_prepare_makes_a_trained_evaluated_deployed_project(tiny_source):
    call_command("seed_demo", "--showcase")
    user = User.objects.get(email=DEMO_EMAIL)
    names = set(Project.objects.filter(created_by=user).values_list("name", flat=True))
    assert names == {"Customer Support Bot", SHOWCASE_NAME}  # an empty one and the example
    project = Project.objects.get(name=SHOWCASE_NAME)

    assert prepare_showcase(str(project.pk)) == "ready"
    run = project.runs.get()
    assert run.status == RunStatus.SUCCEEDED and run.epochs == 2 and run.hardware.is_cpu
    assert run.dataset_version.train_count > 200
    assert Evaluation.objects.filter(run=run).exists()  # queued by the run itself
    assert Deployment.objects.filter(run=run).exists()
    # Again (the next start of the run command): nothing new.
    assert prepare_showcase(str(project.pk)) == "ready"
    assert project.runs.count() == 1 and Deployment.objects.filter(run=run).count() == 1
