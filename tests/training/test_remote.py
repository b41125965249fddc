"""Where runs train, and the internal endpoints of remote pods: tokens, bad input, stop, archives."""

import io
import json
import tarfile
from html import unescape

import pytest
from django.urls import reverse

from apps.catalog.executors import GPU_QUEUE, LOCAL, RUNPOD, executor_for
from apps.catalog.models import Hardware
from apps.training.models import RunStatus, TrainingRun
from apps.training.remote import token_hash

pytestmark = pytest.mark.django_db

TOKEN = "a-run-token-for-tests"


def test_where_a_run_trains(settings):
    cpu = Hardware.objects.get(is_cpu=True)
    a100 = Hardware.objects.get(slug="a100-80gb")
    assert executor_for(cpu).kind == LOCAL
    settings.RUNPOD_API_KEY, settings.GPU_WORKERS = "", False
    assert not executor_for(a100).available and "RUNPOD_API_KEY" in executor_for(a100).detail
    settings.RUNPOD_API_KEY, settings.VIBEFLOW_PUBLIC_URL = "key", ""
    assert "VIBEFLOW_PUBLIC_URL" in executor_for(a100).detail
    settings.VIBEFLOW_PUBLIC_URL = "https://vibeflow.example"
    assert executor_for(a100).kind == RUNPOD
    settings.RUNPOD_API_KEY, settings.GPU_WORKERS = "", True
    assert executor_for(a100).kind == GPU_QUEUE


def test_a_gpu_run_without_a_way_to_train_is_not_started(login, owner, project, settings):
    from tests.training.helpers import draft_run

    settings.RUNPOD_API_KEY, settings.GPU_WORKERS = "", False
    client = login(owner)
    run = draft_run(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(hardware=Hardware.objects.get(slug="a100-80gb"))
    page = unescape(client.post(reverse("run_start", args=[run.pk]), follow=True).content.decode())
    assert "can't be used on this installation" in page and "RUNPOD_API_KEY" not in page
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT  # never sent to a CPU worker in the GPU's name


@pytest.fixture
def remote_run(queued_run):
    queued_run.transition(RunStatus.PROVISIONING)
    TrainingRun.objects.filter(pk=queued_run.pk).update(
        remote_token_hash=token_hash(TOKEN), remote_pod_id="pod-7"
    )
    queued_run.refresh_from_db()
    return queued_run


def call(client, run, path, body=None, token=TOKEN, content_type="application/json"):
    url = f"/internal/runs/{run.pk}/{path}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is None:
        return client.get(url, headers=headers)
    return client.post(url, body, content_type=content_type, headers=headers)


def test_the_token_is_required_and_checked(client, remote_run, queued_run):
    assert call(client, remote_run, "spec").status_code == 200
    for token in ("", "wrong", TOKEN + "x"):
        assert call(client, remote_run, "spec", token=token).status_code == 401
    TrainingRun.objects.filter(pk=remote_run.pk).update(remote_token_hash="")  # revoked
    assert call(client, remote_run, "spec").status_code == 401


def test_the_spec_and_files_are_served_and_nothing_else(client, remote_run):
    spec = call(client, remote_run, "spec").json()
    assert spec["hyperparameters"]["method"] == "lora" and "train.jsonl" in spec["files"]
    # Pod images from before the subset setting refuse unknown fields: a whole run omits it.
    assert "max_examples" not in spec["hyperparameters"]
    assert call(client, remote_run, "files/train.jsonl").status_code == 200
    for name in ("rows.jsonl", "..%2Fsecret_key", "source"):
        assert call(client, remote_run, f"files/{name}").status_code == 404


def test_events_move_the_run_on_and_answer_the_stop(client, remote_run):
    events = {
        "events": [
            {"kind": "log", "message": "hello from the pod"},
            {"kind": "metrics", "values": {"step": 1, "total_steps": 4, "loss": 2.5}},
            {
                "kind": "checkpoint",
                "path": "out/checkpoint-1",
                "step": 1,
                "eval_loss": None,
                "best": False,
            },
        ]
    }
    answer = call(client, remote_run, "events", json.dumps(events))
    assert answer.json() == {"stop": False}
    remote_run.refresh_from_db()
    assert remote_run.status == RunStatus.RUNNING and remote_run.steps_done == 1
    assert remote_run.checkpoints.get().path == "runpod://pod-7/out/checkpoint-1"
    TrainingRun.objects.filter(pk=remote_run.pk).update(stop_requested=True)
    assert call(client, remote_run, "events", json.dumps({"events": []})).json() == {"stop": True}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"events": "x"}),
        json.dumps({"events": [{"kind": "rm -rf"}]}),
        json.dumps({"events": [{}] * 1001}),
    ],
)
def test_bad_events_are_refused(client, remote_run, body):
    assert call(client, remote_run, "events", body).status_code == 400


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_adapter_archive_cannot_write_outside_the_run(client, remote_run, tmp_path, settings):

    evil = _tar({"../../../escaped.txt": b"x"})
    assert (
        call(client, remote_run, "adapter", evil, content_type="application/gzip").status_code
        == 400
    )
    assert not (remote_run.folder.parent.parent / "escaped.txt").exists()
    assert (
        call(
            client, remote_run, "adapter", b"not a tar", content_type="application/gzip"
        ).status_code
        == 400
    )
    good = _tar({"adapter_config.json": b"{}", "adapter_model.safetensors": b"weights"})
    assert (
        call(client, remote_run, "adapter", good, content_type="application/gzip").status_code
        == 200
    )
    assert (remote_run.folder / "output" / "adapter" / "adapter_config.json").is_file()


def test_a_result_needs_the_adapter_first_and_a_failure_is_a_sentence(client, remote_run):
    assert (
        call(client, remote_run, "result", json.dumps({"status": "succeeded"})).status_code == 409
    )
    assert call(client, remote_run, "result", json.dumps({"status": "weird"})).status_code == 400
    answer = call(
        client, remote_run, "result", json.dumps({"status": "failed", "error": "CUDA died"})
    )
    assert answer.status_code == 200
    remote_run.refresh_from_db()
    assert remote_run.status == RunStatus.FAILED
    assert remote_run.error == "Training on the RunPod pod failed: CUDA died"


def test_cancelling_a_provisioning_run_ends_its_pod(
    login, owner, remote_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        login(owner).post(reverse("run_stop", args=[remote_run.pk]))
    remote_run.refresh_from_db()
    assert remote_run.status == RunStatus.CANCELLED
    assert sum("finish_remote" in repr(callback) for callback in sent) == 1


def test_a_stopped_remote_run_cannot_resume_on_this_machine(login, owner, remote_run, tmp_path):
    from apps.training.models import Checkpoint

    Checkpoint.objects.create(run=remote_run, step=2, path="runpod://pod-7/out/checkpoint-2")
    remote_run.transition(RunStatus.STOPPING)
    remote_run.transition(RunStatus.STOPPED)
    page = login(owner).post(reverse("run_resume", args=[remote_run.pk]), follow=True)
    assert "its checkpoints ended with it" in page.content.decode()
    remote_run.refresh_from_db()
    assert remote_run.status == RunStatus.STOPPED
