"""The product's promise on the real parts: the bundled model, trained briefly with LoRA on the
customer-support sample, answers its held-out test split measurably better than before, and
the evaluation that follows the run by itself says so."""

import pytest
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.datasets.tasks import analyse_version
from apps.evaluations.models import EvalStatus
from apps.evaluations.tasks import run_evaluation
from apps.training.models import RunStatus, TrainingRun
from apps.training.tasks import run_training

# Trains and evaluates the real model: on CI's slowest hosts this has taken over ten minutes,
# the suite's default limit for one test.
pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.timeout(1800)]


def test_two_epochs_on_the_sample_beat_the_base_model(login, owner, project):
    client = login(owner)
    client.post(reverse("dataset_sample", args=[project.pk, "customer-support"]))
    version = DatasetVersion.objects.get(dataset__project=project)
    analyse_version(str(version.pk))
    client.post(reverse("run_new", args=[project.pk]))
    run = TrainingRun.objects.get(project=project)
    # The recommended settings, two epochs instead of five to keep the suite short (one
    # epoch, mostly warm-up, moved token F1 by under 0.01).
    TrainingRun.objects.filter(pk=run.pk).update(epochs=2)
    client.post(reverse("run_start", args=[run.pk]))
    assert run_training(str(run.pk)) == RunStatus.SUCCEEDED

    evaluation = run.evaluations.get()  # queued by the finished run
    assert run_evaluation(str(evaluation.pk)) == EvalStatus.SUCCEEDED
    evaluation.refresh_from_db()
    result = evaluation.result
    version.refresh_from_db()
    assert result["examples"] == version.test_count
    assert result["tuned"]["f1"] > result["base"]["f1"] + 0.1
    assert result["tuned"]["perplexity"] < result["base"]["perplexity"]
    improvement = result["tuned_quality"]["score"] - result["base_quality"]["score"]
    assert improvement > 10
    page = client.get(reverse("evaluation_detail", args=[evaluation.pk])).content.decode()
    assert f"+{improvement:.1f} points" in page
