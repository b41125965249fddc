"""Serving on RunPod serverless, through the real runpod SDK against a local server that speaks
RunPod's GraphQL and its serverless routes: the endpoint made for a version (scale to zero, the
plan's workers at most, the version from the Hub), calls through the gateway with the RunPod
key, workers' time metered from /health, the endpoint deleted when no version needs it, and a
sentence for each way it cannot be done."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import HubToken
from apps.billing.models import Meter, Plan, UsageEvent
from apps.catalog.models import BaseModel
from apps.endpoints import keys
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    HubPush,
    InferenceServer,
    PushStatus,
    RequestLog,
    ServerKind,
)
from apps.endpoints.tasks import check_servers, serve_deployment
from tests.fakes.runpod_api import FakeRunPod

from .conftest import bearer

HUB_REPO = "owner/support-bot-v1"


@pytest.fixture
def runpod(settings, monkeypatch, db):
    with FakeRunPod({}) as fake:
        settings.RUNPOD_API_KEY = fake.key
        settings.RUNPOD_ENDPOINT_BASE_URL = f"{fake.url}/v2"
        monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
        Plan.objects.update(max_replicas=3)
        yield fake


@pytest.fixture
def pushed(trained_run, owner):
    """The version on the Hub, in a private repository, and its base a public id."""
    BaseModel.objects.filter(pk=trained_run.base_model_id).update(source="org/tiny-base")
    trained_run.refresh_from_db()
    HubToken.store(owner, "hf_private_token_1234", "owner")
    return HubPush.objects.create(
        run=trained_run,
        requested_by=owner,
        repo_id=HUB_REPO,
        private=True,
        status=PushStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )


def deploy_serverless(client, run) -> Deployment:
    response = client.post(reverse("run_deploy", args=[run.pk]), {"serverless": "on"})
    assert response.status_code == 302
    deployment = Deployment.objects.get(run=run)
    assert deployment.serverless
    serve_deployment(str(deployment.pk))  # what the worker runs
    return Deployment.objects.select_related("endpoint__project").get(pk=deployment.pk)


def chat(client, deployment, raw_key):
    body = {"model": deployment.endpoint.name, "messages": [{"role": "user", "content": "hi"}]}
    return client.post(
        "/v1/chat/completions",
        json.dumps(body | {"max_tokens": 3}),
        content_type="application/json",
        **bearer(raw_key),
    )


def test_a_version_is_served_by_a_runpod_endpoint_made_for_it(
    runpod, pushed, trained_run, owner, login, settings
):
    client = login(owner)
    page = client.get(reverse("run_config", args=[trained_run.pk])).content.decode()
    assert 'name="serverless"' in page
    deployment = deploy_serverless(client, trained_run)
    assert deployment.status == DeploymentStatus.READY, deployment.error

    # The template: RunPod's vLLM worker, the base and the adapter from the Hub, the token
    # that pushed it (the repository is private); the endpoint: scaled to zero when idle.
    (template,) = runpod.templates.values()
    assert template["serverless"] and template["image"] == settings.RUNPOD_SERVING_IMAGE
    served = f"vf-{trained_run.pk.hex}"
    env = template["env"]
    assert env["MODEL_NAME"] == "org/tiny-base" and env["ENABLE_LORA"] == "true"
    assert json.loads(env["LORA_MODULES"]) == [{"name": served, "path": HUB_REPO}]
    assert env["HF_TOKEN"] == "hf_private_token_1234"
    (endpoint_id, endpoint), *_ = runpod.endpoints.items()
    assert (endpoint["workersMin"], endpoint["workersMax"]) == (0, 3)  # the plan's replicas
    assert endpoint["flashboot"] and endpoint["idleTimeout"] == settings.RUNPOD_IDLE_TIMEOUT_S
    server = InferenceServer.objects.get(kind=ServerKind.RUNPOD)
    assert server.url == f"{runpod.url}/v2/{endpoint_id}/openai"
    assert runpod.answered == [(endpoint_id, served)]  # the deploy's real completion

    # Calls through the gateway reach it with the RunPod key (the fake refuses any other).
    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    for _ in range(3):
        response = chat(client, deployment, raw)
        assert response.status_code == 200, response.content
        assert response.json()["model"] == deployment.endpoint.name
        assert settings.RUNPOD_API_KEY not in response.content.decode()
    assert runpod.answered[1:] == [(endpoint_id, served)] * 3
    assert RequestLog.objects.filter(endpoint=deployment.endpoint, status_code=200).count() == 3
    page = client.get(reverse("endpoint_detail", args=[deployment.endpoint_id]))
    (row,) = page.context["replicas"]
    assert row.kind == "RunPod serverless (vLLM)" and row.calls == 3
    assert "RunPod starts up to 3 GPUs on calls, none when idle" in row.label

    # Workers' time, from /health: two up for the 30 s since the last reading.
    runpod.workers = {"idle": 1, "running": 1}
    InferenceServer.objects.filter(pk=server.pk).update(
        metered_until=timezone.now() - timedelta(seconds=30)
    )
    check_servers()
    (event,) = UsageEvent.objects.filter(meter=Meter.GPU_SECONDS)
    assert Decimal("59") < event.quantity < Decimal("62")
    assert event.unit_price == Decimal(settings.RUNPOD_SERVERLESS_PRICE_PER_S)
    assert event.endpoint_id == deployment.endpoint_id
    assert "RunPod serverless: 2 GPUs up" in event.description
    runpod.workers = {"idle": 0, "running": 0}  # scaled to zero: nothing more is billed
    check_servers()
    assert UsageEvent.objects.filter(meter=Meter.GPU_SECONDS).count() == 1
    # After an hour without readings, one GPU up now is billed two rounds, not the hour.
    runpod.workers = {"idle": 1, "running": 0}
    InferenceServer.objects.filter(pk=server.pk).update(
        metered_until=timezone.now() - timedelta(hours=1)
    )
    check_servers()
    gap = UsageEvent.objects.filter(meter=Meter.GPU_SECONDS).latest("created_at")
    assert gap.quantity == Decimal(
        2 * settings.CELERY_BEAT_SCHEDULE["check-inference-servers"]["schedule"]
    )

    # A server announcing itself cannot take the RunPod endpoint's address (its calls carry
    # the RunPod key).
    settings.SERVER_ANNOUNCE_TOKEN = "s3cret-server-token"
    taken = client.post(
        reverse("server_announce"),
        json.dumps({"url": server.url, "kind": "vllm"}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer s3cret-server-token",
    )
    assert taken.status_code == 409
    assert InferenceServer.objects.get(pk=server.pk).kind == ServerKind.RUNPOD

    # The version leaves: its endpoint and template are deleted at RunPod.
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.RETIRED, weight=0)
    assert check_servers()["runpod_deleted"] == [endpoint_id]
    assert runpod.endpoints[endpoint_id]["deleted"] and not runpod.templates
    assert not InferenceServer.objects.filter(kind=ServerKind.RUNPOD).exists()


def test_each_way_it_cannot_be_done_says_why(runpod, trained_run, owner, login, settings):
    client = login(owner)
    # Not on the Hub: nothing is created at RunPod.
    deployment = deploy_serverless(client, trained_run)
    assert deployment.status == DeploymentStatus.FAILED
    assert "push this version to the Hub first" in deployment.error
    assert not runpod.templates and not runpod.endpoints

    # Pushed as an adapter, but its base is only on this server's disk.
    HubPush.objects.create(
        run=trained_run, requested_by=owner, repo_id=HUB_REPO, status=PushStatus.SUCCEEDED
    )
    deployment.delete()
    deployment = deploy_serverless(client, trained_run)
    assert "push the merged model" in deployment.error

    # A private repository whose pusher's Hub token was removed: the worker could not read it.
    BaseModel.objects.filter(pk=trained_run.base_model_id).update(source="org/tiny-base")
    deployment.delete()
    deployment = deploy_serverless(client, trained_run)
    assert "private Hub repository" in deployment.error

    # RunPod refuses the key.
    HubPush.objects.filter(run=trained_run).update(private=False)
    settings.RUNPOD_API_KEY = "rp-wrong"
    deployment.delete()
    deployment = deploy_serverless(client, trained_run)
    assert deployment.status == DeploymentStatus.FAILED
    assert "RunPod could not create the serverless endpoint" in deployment.error
    assert "rp-wrong" not in deployment.error

    # No RunPod key on this installation: the box is not offered, and a forged post is refused.
    settings.RUNPOD_API_KEY = ""
    deployment.delete()
    page = client.get(reverse("run_config", args=[trained_run.pk])).content.decode()
    assert 'name="serverless"' not in page
    response = client.post(
        reverse("run_deploy", args=[trained_run.pk]), {"serverless": "on"}, follow=True
    )
    assert "RunPod serverless is not set up" in response.content.decode()
    assert not Deployment.objects.filter(run=trained_run).exists()


def test_another_teams_version_cannot_be_deployed(runpod, pushed, trained_run, outsider, login):
    response = login(outsider).post(
        reverse("run_deploy", args=[trained_run.pk]), {"serverless": "on"}
    )
    assert response.status_code == 404
    assert not runpod.templates and not Deployment.objects.exists()
