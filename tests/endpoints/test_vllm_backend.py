"""GPU nodes' deploy path (INFERENCE_BACKEND=vllm) against a server that answers as vLLM does:
the version goes in as a runtime LoRA adapter under its own name, is health-checked, and the
gateway's calls reach that adapter, never the bare base model."""

from __future__ import annotations

import json

import pytest

from apps.endpoints import keys
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    InferenceServer,
    Replica,
    ServerKind,
)
from apps.endpoints.services import deploy_run
from apps.endpoints.tasks import serve_deployment
from apps.training.models import TrainingRun
from tests.fakes.vllm_api import FakeVLLM

from .conftest import bearer, next_version


@pytest.fixture
def vllm(settings):
    with FakeVLLM() as server:
        settings.INFERENCE_BACKEND = "vllm"
        settings.INFERENCE_SERVER_URL = server.url
        yield server


def test_a_version_goes_live_as_a_lora_adapter_and_the_gateway_reaches_it(
    vllm, trained_run, owner, client
):
    deployment = deploy_run(trained_run, owner)
    assert serve_deployment(str(deployment.pk)) == "ready"
    deployment = Deployment.objects.get(pk=deployment.pk)
    assert deployment.status == DeploymentStatus.READY and deployment.backend == "vllm"
    assert deployment.served_model == f"vf-{trained_run.pk.hex}"
    assert vllm.adapters == {deployment.served_model: trained_run.adapter_dir}
    assert vllm.answered == [deployment.served_model]  # the health check went to the adapter

    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    response = client.post(
        "/v1/chat/completions",
        json.dumps(
            {
                "model": deployment.endpoint.name,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 3,
            }
        ),
        content_type="application/json",
        **bearer(raw),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == deployment.endpoint.name  # the adapter's name stays ours
    assert body["choices"][0]["message"]["content"] == f"answered by {deployment.served_model}"
    assert vllm.answered[-1] == deployment.served_model


def test_a_second_version_of_the_same_base_shares_the_server(vllm, trained_run, owner):
    first = deploy_run(trained_run, owner)
    assert serve_deployment(str(first.pk)) == "ready"
    second = deploy_run(next_version(trained_run), owner, first.endpoint)
    assert serve_deployment(str(second.pk)) == "ready"
    assert len(vllm.adapters) == 2  # two LoRA modules on one base model
    # Deploying the same version again (a rollback) finds its adapter already loaded.
    vllm_names = set(vllm.adapters)
    third = deploy_run(trained_run, owner, first.endpoint)
    assert serve_deployment(str(third.pk)) == "ready"
    assert set(vllm.adapters) == vllm_names


def test_a_full_fine_tune_needs_a_server_of_its_own(vllm, trained_run, owner, tmp_path):
    """vLLM takes versions as adapters on a shared base; a whole model needs its own server:
    refused with the reason while none is registered, served by one started with it."""
    whole = tmp_path / "whole-model"
    whole.mkdir()
    (whole / "config.json").write_text("{}")
    TrainingRun.objects.filter(pk=trained_run.pk).update(adapter_dir=str(whole))
    trained_run.refresh_from_db()
    deployment = deploy_run(trained_run, owner)
    assert serve_deployment(str(deployment.pk)) == "failed"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert "server of its own" in deployment.error and str(whole) in deployment.error
    assert not vllm.adapters and not vllm.answered

    with FakeVLLM(base=str(whole)) as own:
        InferenceServer.objects.create(
            name="full", kind=ServerKind.VLLM, url=own.url, base_model=str(whole)
        )
        again = deploy_run(trained_run, owner, deployment.endpoint)
        assert serve_deployment(str(again.pk)) == "ready"
        replica = Replica.objects.get(deployment=again)
        assert (replica.server.url, replica.served_model) == (own.url, str(whole))
        assert own.answered == [str(whole)] and not own.adapters and not vllm.adapters
