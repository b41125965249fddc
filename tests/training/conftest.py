import pytest
from django.urls import reverse

from apps.training.models import RunStatus

from .helpers import draft_run


@pytest.fixture
def queued_run(login, owner, project):
    client = login(owner)
    run = draft_run(client, project, epochs=1, batch_size=4, gradient_accumulation=1)
    client.post(reverse("run_start", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    return run
