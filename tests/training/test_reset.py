"""Reset to Recommended puts a draft's settings back to its recommendation; team-only, drafts only."""

import pytest
from django.urls import reverse

from apps.training.models import TrainingRun

from .helpers import draft_run

pytestmark = pytest.mark.django_db


def test_a_draft_goes_back_to_its_recommendation(login, owner, viewer, outsider, project):
    client = login(owner)
    run = draft_run(client, project)
    recommended = run.recommendation
    TrainingRun.objects.filter(pk=run.pk).update(learning_rate=0.05, epochs=9, lora_r=64)
    url = reverse("run_reset", args=[run.pk])
    assert login(outsider).post(url).status_code == 404
    assert login(viewer).post(url).status_code == 403
    page = login(owner).post(url, follow=True).content.decode()  # login() reuses one client
    assert "Settings reset to the recommendation." in page
    run.refresh_from_db()
    assert (run.learning_rate, run.epochs, run.lora_r) == (
        recommended["learning_rate"],
        recommended["epochs"],
        recommended["lora_r"],
    )


def test_a_started_run_is_not_reset(login, owner, queued_run):
    TrainingRun.objects.filter(pk=queued_run.pk).update(epochs=9)
    page = login(owner).post(reverse("run_reset", args=[queued_run.pk]), follow=True)
    assert "Only a draft made from a recommendation" in page.content.decode()
    queued_run.refresh_from_db()
    assert queued_run.epochs == 9
