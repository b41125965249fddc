"""The endpoint's badge follows its newest deployment attempt and agrees with the steps list
below it: a retry deploying after a failure once kept saying "Failed"."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import BaseModel, Hardware
from apps.endpoints import services
from apps.endpoints.models import Deployment, DeploymentStatus, Endpoint, EndpointStatus, when
from apps.endpoints.serving import claim, step
from apps.endpoints.tasks import serve_deployment
from apps.training.models import RunStatus, TrainingRun
from apps.workspace.consumers import _render_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_server(settings):
    """Deploys that fail at "Starting the inference server", as when its process is down: a
    vLLM node (which loads a LoRA adapter, no merge to do) nobody answers on."""
    settings.INFERENCE_BACKEND = "vllm"
    settings.INFERENCE_SERVER_URL = "http://127.0.0.1:9"
    settings.SERVING_START_TIMEOUT_S = 1


@pytest.fixture
def version(project, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    return TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        adapter_dir=str(adapter),
    )


def _badge(html: str) -> str:
    return html.split('id="endpoint-status"', 1)[1].split("</span></span>", 1)[0]


def test_a_retry_deploying_after_a_failure_is_never_shown_failed(
    login, owner, version, unreachable_server
):
    client = login(owner)
    deployment = services.deploy_run(version, owner)
    assert serve_deployment(str(deployment.pk)) == "failed"
    endpoint = deployment.endpoint
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.FAILED
    page = client.get(reverse("endpoint_detail", args=[endpoint.pk])).content.decode()
    assert "🔴 Failed" in _badge(page) and "v1 failed at “Starting the inference server”" in page
    progress = page.split('id="deploy-progress"', 1)[1].split(">", 1)[0]
    assert "hx-get" not in progress  # nothing to poll: this attempt is over

    # Retry from the versions table; a worker takes it and reaches the second step.
    response = client.post(reverse("deployment_activate", args=[deployment.pk]))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DEPLOYING
    claimed = claim(str(deployment.pk))
    step(claimed, 1)

    page = client.get(reverse("endpoint_detail", args=[endpoint.pk])).content.decode()
    badge = _badge(page)
    assert "Failed" not in badge
    assert "🟡 Deploying (retry)" in badge
    assert "v1: step 2 of 5, Starting the inference server" in badge
    assert "Creating API Endpoint… v1 (retry)" in page
    assert "⏳ Starting the inference server" in page  # the steps list says the same step

    # The progress poll redraws the badge too (out of band), from the same read of the rows.
    step(claimed, 2, "Loading the model into the server")
    poll = client.get(reverse("deployment_progress", args=[deployment.pk])).content.decode()
    assert "⏳ Deploying" in poll
    badge = _badge(poll)
    assert 'hx-swap-oob="true"' in badge and "Deploying (retry)" in badge
    assert "v1: step 3 of 5, Deploying" in badge
    assert "HX-Refresh" not in client.get(reverse("deployment_progress", args=[deployment.pk]))

    # The project's page and the endpoints list say the same.
    for url in (
        reverse("project_detail", args=[endpoint.project_id]),
        reverse("project_endpoints", args=[endpoint.project_id]),
    ):
        assert "🟡 Deploying (retry)" in client.get(url).content.decode(), url

    # The retry fails too: the badge says so, and the poll asks for the page again.
    services.deploy_failed(claimed, "The model server did not answer.")
    poll = client.get(reverse("deployment_progress", args=[deployment.pk]))
    assert poll["HX-Refresh"] == "true" and "🔴 Failed" in _badge(poll.content.decode())
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.FAILED


def test_a_version_failing_while_another_deploys_leaves_the_endpoint_deploying(
    owner, version, unreachable_server
):
    first = services.deploy_run(version, owner)
    second_run = TrainingRun.objects.create(
        project=version.project,
        number=2,
        base_model=version.base_model,
        hardware=version.hardware,
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        adapter_dir=version.adapter_dir,
    )
    second = services.deploy_run(second_run, owner, first.endpoint)
    assert serve_deployment(str(first.pk)) == "failed"
    first.endpoint.refresh_from_db()
    assert first.endpoint.status == EndpointStatus.DEPLOYING  # v2 is still on its way
    badge = first.endpoint.badge()
    assert (badge.tone, badge.label) == ("deploying", "Deploying")
    assert badge.detail == "v2: waiting its turn"
    assert Deployment.objects.get(pk=second.pk).status == DeploymentStatus.QUEUED


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_lists_of_endpoints_read_every_badge_in_one_query(login, owner, version):
    """The endpoints list, the project's page and its live redraw show a badge per endpoint (and
    the page a line per run, with its base model): the same number of queries for one endpoint
    and one run as for five of each (it was one more per endpoint, and per run)."""
    client = login(owner)
    project = version.project
    pages = [reverse(name, args=[project.pk]) for name in ("project_endpoints", "project_detail")]
    for url in pages:  # what a first request loads once (the session, the sidebar's team)
        client.get(url)
    counts = []
    for total in (1, 5):
        while project.endpoints.count() < total:
            endpoint = Endpoint.objects.create(
                project=project,
                name=f"e{project.endpoints.count()}",
                rate_limit_rpm=10,
                tokens_per_minute=100,
                timeout_s=5,
            )
            Deployment.objects.create(endpoint=endpoint, run=version, created_by=owner)
        while project.runs.count() < total:
            TrainingRun.objects.create(
                project=project,
                number=project.runs.count() + 1,
                base_model=version.base_model,
                hardware=version.hardware,
            )
        counts.append(
            [
                *(_queries(lambda url=url: client.get(url)) for url in pages),
                _queries(lambda: _render_changed.func(project.pk)),
            ]
        )
    page = client.get(reverse("project_endpoints", args=[project.pk])).content.decode()
    assert page.count("🟡 Deploying") == 5  # every badge still drawn from its own versions
    assert counts[0] == counts[1], counts


def test_a_live_endpoint_that_stopped_answering_is_never_shown_live(owner, version):
    """The badge follows what callers get too: a server that died left it saying "Live"."""
    endpoint = Endpoint.objects.create(
        project=version.project,
        name="bot",
        status=EndpointStatus.LIVE,
        rate_limit_rpm=10,
        tokens_per_minute=100,
        timeout_s=5,
    )
    Deployment.objects.create(
        endpoint=endpoint, run=version, status=DeploymentStatus.READY, weight=100
    )
    assert (endpoint.badge().tone, endpoint.badge().label) == ("live", "Live")
    since = timezone.now()
    endpoint.record_health(since)
    badge = Endpoint.objects.get(pk=endpoint.pk).badge()
    assert (badge.tone, badge.icon) == ("down", "🔴")
    assert badge.label == f"Not answering since {when(since)}"
    endpoint.record_health(None)
    assert Endpoint.objects.get(pk=endpoint.pk).badge().label == "Live"
    # Stopped by its owner: it says so, whatever its server did before.
    Endpoint.objects.filter(pk=endpoint.pk).update(status=EndpointStatus.STOPPED, down_since=since)
    assert Endpoint.objects.get(pk=endpoint.pk).badge().label == "Stopped"
