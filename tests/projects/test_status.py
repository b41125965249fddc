"""A project's status tells the user where it is: Draft → Training → Trained (a version ready to
deploy) → Deployed, following runs and deployments (it stayed "Draft" after a version trained),
and the pages watching the project redraw it without a reload."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import BaseModel, Hardware
from apps.endpoints import services
from apps.projects.models import Project, ProjectStatus
from apps.training.models import RunStatus, TrainingRun
from vibeflow_site.routing import websocket_urlpatterns


def _run(project, number, tmp_path, **fields) -> TrainingRun:
    adapter = tmp_path / f"adapter-{number}"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    return TrainingRun.objects.create(
        project=project,
        number=number,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        adapter_dir=str(adapter),
        **fields,
    )


def _status(project) -> str:
    return Project.objects.get(pk=project.pk).status


@pytest.mark.django_db
def test_the_status_follows_runs_and_deployments(login, owner, project, tmp_path):
    assert _status(project) == ProjectStatus.DRAFT
    run = _run(project, 1, tmp_path)
    run.transition(RunStatus.QUEUED)
    assert _status(project) == ProjectStatus.TRAINING
    run.transition(RunStatus.RUNNING)
    run.transition(RunStatus.SUCCEEDED)
    assert _status(project) == ProjectStatus.TRAINED  # it said "Draft" here

    page = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    assert 'class="status status-trained"' in page and ">Trained</span>" in page

    deployment = services.deploy_run(run, owner)
    assert _status(project) == ProjectStatus.TRAINED  # deploying: nothing answers yet
    services.went_live(deployment)  # its health check passed
    assert _status(project) == ProjectStatus.DEPLOYED
    services.set_stopped(deployment.endpoint, True)
    assert _status(project) == ProjectStatus.TRAINED  # stopped: still a version to deploy

    second = _run(project, 2, tmp_path)
    second.transition(RunStatus.QUEUED)
    assert _status(project) == ProjectStatus.TRAINING
    second.transition(RunStatus.CANCELLED)
    assert _status(project) == ProjectStatus.TRAINED
    services.set_stopped(deployment.endpoint, False)
    assert _status(project) == ProjectStatus.DEPLOYED


@pytest.mark.django_db
def test_a_run_that_failed_or_left_no_model_is_not_trained(project, tmp_path):
    failed = _run(project, 1, tmp_path)
    failed.transition(RunStatus.QUEUED)
    failed.transition(RunStatus.RUNNING)
    failed.transition(RunStatus.FAILED)
    assert _status(project) == ProjectStatus.DRAFT
    stopped = _run(project, 2, tmp_path, status=RunStatus.RUNNING)
    TrainingRun.objects.filter(pk=stopped.pk).update(adapter_dir="")  # stopped before a checkpoint
    stopped.transition(RunStatus.STOPPING)
    stopped.transition(RunStatus.STOPPED)
    assert _status(project) == ProjectStatus.DRAFT


@pytest.mark.django_db(transaction=True)
async def test_a_run_that_succeeds_redraws_the_project_page_live(
    seeded_catalog, owner, project, tmp_path
):
    run = await sync_to_async(_run)(
        project, 1, tmp_path, status=RunStatus.RUNNING, started_at=timezone.now()
    )
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/projects/{project.pk}/"
    )
    communicator.scope["user"] = owner
    connected, _ = await communicator.connect()
    assert connected

    await sync_to_async(run.transition)(RunStatus.SUCCEEDED)
    html = await communicator.receive_from(timeout=5)
    # The status by the title and in the sidebar entry...
    assert html.count('class="status status-trained"') == 2 and ">Trained</span>" in html
    # ...and the dashboard's summaries: the run's state and the current model.
    runs = html.split('<div id="project-runs" hx-swap-oob="true">', 1)[1].split("</div>", 1)[0]
    assert "v1" in runs and "Succeeded" in runs
    figures = html.split('id="project-figures" hx-swap-oob="true">', 1)[1].split("</dl>", 1)[0]
    assert "Current model" in figures and "v1" in figures
    assert 'id="project-endpoints" hx-swap-oob="true"' in html

    # A state change that leaves the status as it is still redraws the summaries.
    second = await sync_to_async(_run)(project, 2, tmp_path)
    await sync_to_async(second.transition)(RunStatus.QUEUED)
    html = await communicator.receive_from(timeout=5)
    assert ">Training</span>" in html
    third = await sync_to_async(_run)(project, 3, tmp_path)
    await sync_to_async(third.transition)(RunStatus.QUEUED)
    html = await communicator.receive_from(timeout=5)
    assert ">Training</span>" in html
    runs = html.split('<div id="project-runs" hx-swap-oob="true">', 1)[1].split("</div>", 1)[0]
    assert "v3" in runs and "Queued" in runs
    await communicator.disconnect()
