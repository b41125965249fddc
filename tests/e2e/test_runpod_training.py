"""A run on a RunPod GPU, end to end: the real runpod SDK starts a pod on a local RunPod-shaped
server, the "pod" (workers.remote in a process of its own, as the GPU image runs it) fetches the
job over the run's internal endpoints with its token, trains, reports, uploads its adapter, and
the run ends succeeded with RunPod's uptime as its GPU seconds and the pod terminated."""

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from apps.catalog.models import BaseModel, Hardware
from apps.training.models import MetricPoint, RunStatus, TrainingRun
from tests.fakes.runpod_api import FakeRunPod
from tests.training.helpers import draft_run

from .conftest import ROOT, _child, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

GPU = "a100-80gb"


@pytest.fixture
def runpod(seeded_catalog):
    hardware = Hardware.objects.get(slug=GPU)
    with FakeRunPod({hardware.runpod_gpu_id: 1.64}) as fake:
        yield fake


@pytest.fixture
def remote_stack(runpod, live_server_url, settings, monkeypatch):
    """Daphne (from live_server_url) takes the pod's calls; a worker launches and finishes pods."""
    env = {
        "RUNPOD_API_KEY": runpod.key,
        "RUNPOD_API_BASE_URL": runpod.url,
        "VIBEFLOW_PUBLIC_URL": live_server_url,
    }
    settings.RUNPOD_API_KEY = runpod.key
    settings.VIBEFLOW_PUBLIC_URL = live_server_url
    monkeypatch.setenv("RUNPOD_API_BASE_URL", runpod.url)
    with _child(
        [
            "celery",
            "-A",
            "vibeflow_site",
            "worker",
            "-Q",
            "default",
            "--pool",
            "solo",
            "-l",
            "warning",
        ],
        "worker-runpod.log",
        env,
    ):
        yield live_server_url


def test_a_run_trains_on_a_runpod_pod(remote_stack, runpod, login, owner, project, tiny_model_dir):
    client = login(owner)
    run = draft_run(client, project, epochs=2, batch_size=4, gradient_accumulation=1)
    BaseModel.objects.filter(pk=run.base_model_id).update(bundled=False, source=str(tiny_model_dir))
    TrainingRun.objects.filter(pk=run.pk).update(hardware=Hardware.objects.get(slug=GPU))

    client.post(reverse("run_start", args=[run.pk]))
    pod_id = wait_for(lambda: TrainingRun.objects.get(pk=run.pk).remote_pod_id, 60, "the pod")
    pod = runpod.pods[pod_id]
    assert pod["gpu"] == Hardware.objects.get(slug=GPU).runpod_gpu_id
    assert pod["env"]["VIBEFLOW_CALLBACK_URL"] == f"{remote_stack}/internal/runs/{run.pk}/"
    token = pod["env"]["VIBEFLOW_RUN_TOKEN"]
    stored = TrainingRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.PROVISIONING and token not in stored.remote_token_hash

    # What the GPU image runs, here in a process of its own.
    pod_process = subprocess.run(
        [sys.executable, "-m", "workers.remote"],
        cwd=ROOT,
        env={
            **os.environ,
            "VIBEFLOW_CALLBACK_URL": pod["env"]["VIBEFLOW_CALLBACK_URL"],
            "VIBEFLOW_RUN_TOKEN": token,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pod_process.returncode == 0, pod_process.stderr[-3000:]

    wait_for(lambda: runpod.pods[pod_id]["terminated"], 60, "the pod to be terminated")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.gpu_seconds == runpod.uptime_seconds  # RunPod's accounting, not ours
    assert run.steps_done == 4 and MetricPoint.objects.filter(run=run).count() == 4
    assert os.path.isfile(os.path.join(run.adapter_dir, "adapter_config.json"))
    assert run.checkpoints.filter(path__startswith=f"runpod://{pod_id}/").exists()
    assert "The GPU pod has the job and its data" in run.log_tail
    assert run.remote_token_hash == ""  # revoked: the pod's token opens nothing any more
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        pod["env"]["VIBEFLOW_CALLBACK_URL"] + "spec", headers={"Authorization": f"Bearer {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
