"""A real `transformers serve` process for the suite, and versions deployed into it."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from apps.endpoints import keys
from apps.endpoints.models import Deployment
from apps.endpoints.services import deploy_run
from apps.endpoints.tasks import serve_deployment
from tests.e2e.conftest import (
    OUTPUT,
    ROOT,
    _free_port,
    live_server_url,  # noqa: F401  (a fixture)
)
from tests.evaluation.conftest import trained_run  # noqa: F401  (a fixture)
from vibeflow_site import processes


@pytest.fixture(scope="session")
def inference_server():
    """transformers' OpenAI-compatible server on CPU, started from the `inference` process's
    one definition (vibeflow_site/processes.py) (continuous batching on, its cache within the default budget)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT / "inference.log", "ab") as log:
        server = processes.inference(port)
        process = subprocess.Popen(
            server.command(),
            cwd=ROOT,
            # Every test deploys a version of its own: let idle ones go after 30 s, or the
            # suite's loaded models (a process each) outgrow the machine's memory.
            env=server.environment(os.environ) | {"INFERENCE_MODEL_TIMEOUT_S": "30"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"transformers serve did not start; see {OUTPUT / 'inference.log'}"
                    )
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def serving(settings, inference_server):
    settings.INFERENCE_SERVER_URL = inference_server
    settings.INFERENCE_BACKEND = "transformers"
    return inference_server


@pytest.fixture
def deployed(serving, trained_run, owner) -> Deployment:  # noqa: F811
    """The tiny model's trained version, merged, loaded and health-checked: a live endpoint."""
    deployment = deploy_run(trained_run, owner)
    assert serve_deployment(str(deployment.pk)) == "ready", Deployment.objects.get(
        pk=deployment.pk
    ).error
    # Related rows loaded now: async tests may not query lazily.
    return Deployment.objects.select_related("endpoint__project", "run").get(pk=deployment.pk)


@pytest.fixture
def api_key(deployed, owner) -> str:
    _, raw = keys.create_key(deployed.endpoint.project, owner, "tests")
    return raw


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def next_version(run):
    """Another finished version of the same project, sharing ``run``'s adapter."""
    from apps.training.models import TrainingRun

    return TrainingRun.objects.create(
        project=run.project,
        number=run.number + 1,
        base_model=run.base_model,
        hardware=run.hardware,
        dataset_version=run.dataset_version,
        status="succeeded",
        adapter_dir=run.adapter_dir,
    )


def serve_from(deployment: Deployment, url: str, served_model: str | None = None) -> None:
    """Move the version's replica to the server at ``url`` (a misbehaving fake, an address
    nothing listens on), known there as ``served_model``."""
    from apps.endpoints.models import InferenceServer, Replica

    server, _ = InferenceServer.objects.get_or_create(url=url, defaults={"name": url})
    changes = {"server": server}
    if served_model is not None:
        changes["served_model"] = served_model
    assert Replica.objects.filter(deployment=deployment).update(**changes) == 1
