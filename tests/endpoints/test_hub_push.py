"""Pushing a version to the Hugging Face Hub: the real huggingface_hub client against a local Hub
that speaks its wire format (tests/fakes/hf_hub.py), the user's token stored encrypted."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.text import slugify

from apps.accounts.models import HubToken
from apps.endpoints import exports
from apps.endpoints import hub as hub_module
from apps.endpoints.models import HubPush, PushStatus
from apps.endpoints.services import queue_hub_push
from apps.endpoints.tasks import push_to_hub
from apps.evaluations.models import EvalStatus, Evaluation
from tests.e2e.conftest import wait_for
from tests.endpoints.test_portable_bundle import TINY_ID, _set_base, _this_machines_paths
from tests.fakes.hf_hub import FakeHub

GOOD = "hf_alice_write_token_0123456789"


@pytest.fixture
def hub(settings):
    with FakeHub() as fake:
        fake.users[GOOD] = "alice"
        settings.HF_ENDPOINT = fake.url
        yield fake


def _repo(run) -> str:
    return f"alice/{slugify(run.project.name)}-v{run.number}"


def _push(client, run, **data):
    payload = {"repo_id": _repo(run), "private": "on", "merged": "adapter", "token": GOOD} | data
    return client.post(reverse("run_hub_push", args=[run.pk]), payload)


def _pushed_files(hub, run, owner, merged: bool = False) -> dict[str, bytes]:
    HubToken.store(owner, GOOD, "alice")
    push = queue_hub_push(run, owner, {"repo_id": _repo(run), "private": True, "merged": merged})
    assert push_to_hub(str(push.pk)) == "succeeded", HubPush.objects.get(pk=push.pk).error
    return hub.models[_repo(run)]["files"]


def _assert_nothing_of_this_machine(files: dict[str, bytes], run, tiny_model_dir) -> None:
    assert "training_args.bin" not in files  # the trainer's pickle holds this server's paths
    for name, data in files.items():
        for path in _this_machines_paths(run, tiny_model_dir):
            assert path.encode() not in data, f"{name} holds {path}"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.django_db(transaction=True)
def test_push_creates_the_repo_with_the_adapter_and_a_model_card(
    celery_worker_thread, hub, trained_run, login, owner
):
    client = login(owner)
    page = client.get(reverse("run_hub_push", args=[trained_run.pk]))
    assert page.status_code == 200
    assert b"Push v1" in page.content

    response = _push(client, trained_run)
    assert response.status_code == 302
    push = HubPush.objects.get(run=trained_run)
    wait_for(
        lambda: HubPush.objects.get(pk=push.pk).status not in ("queued", "running"),
        60,
        "the push task",
    )
    push.refresh_from_db()
    assert push.status == PushStatus.SUCCEEDED, push.error

    repo = hub.models[_repo(trained_run)]
    assert repo["private"] is True
    adapter = Path(trained_run.adapter_dir)
    assert (
        repo["files"]["adapter_model.safetensors"]
        == (adapter / "adapter_model.safetensors").read_bytes()
    )
    assert "adapter_config.json" in repo["files"]
    assert {"requirements.txt", "inference_example.py"} <= set(repo["files"])
    card = repo["files"]["README.md"].decode()
    assert card.startswith("---\n") and "library_name: peft" in card
    # The tiny model's catalog row is a folder on this machine: no public id, and no path.
    assert "base_model:" not in card and "has no public Hugging Face Hub id" in card
    assert f"{trained_run.dataset_version.train_count} training" in card
    assert repo["commits"] == [f"VibeFlow: {trained_run.project.name} v1"]
    assert push.repo_url == f"{hub.url}/{_repo(trained_run)}"
    assert push.commit_url.startswith(push.repo_url + "/commit/")

    # The token: encrypted at rest, the Hub user remembered, never shown again.
    row = HubToken.objects.get(user=owner)
    assert GOOD not in row.ciphertext and row.reveal() == GOOD
    assert row.hub_username == "alice" and row.last4 == GOOD[-4:]
    page = client.get(reverse("run_hub_push", args=[trained_run.pk]))
    assert GOOD.encode() not in page.content
    assert push.repo_url.encode() in page.content
    assert f"…{GOOD[-4:]}".encode() in page.content


@pytest.mark.django_db
def test_a_second_push_adds_a_commit_with_the_saved_token(hub, trained_run, login, owner):
    client = login(owner)
    HubToken.store(owner, GOOD, "alice")
    for _ in range(2):
        assert _push(client, trained_run, token="").status_code == 302
        push = HubPush.objects.filter(run=trained_run).first()
        assert push_to_hub(str(push.pk)) == "succeeded"
    assert len(hub.models[_repo(trained_run)]["commits"]) == 2
    assert push_to_hub(str(push.pk)) == "gone"  # a redelivery does nothing


@pytest.mark.django_db
def test_the_form_proposes_the_hub_user_namespace(hub, trained_run, login, owner):
    HubToken.store(owner, GOOD, "alice")
    page = login(owner).get(reverse("run_hub_push", args=[trained_run.pk]))
    assert f'value="{_repo(trained_run)}"'.encode() in page.content


@pytest.mark.django_db
def test_a_token_the_hub_refuses_is_not_saved(hub, trained_run, login, owner):
    response = _push(login(owner), trained_run, token="hf_not_a_real_token")
    assert response.status_code == 200
    assert b"The Hub refused your token" in response.content
    assert _repo(trained_run).encode() in response.content  # what was typed is kept
    assert not HubToken.objects.exists() and not HubPush.objects.exists()


@pytest.mark.parametrize(
    "repo_id", ["alice/a/b", "../etc", "alice/has space", "alice/" + "x" * 97, ""]
)
@pytest.mark.django_db
def test_bad_repository_names_are_refused(hub, trained_run, login, owner, repo_id):
    response = _push(login(owner), trained_run, repo_id=repo_id)
    assert response.status_code == 200
    assert b'class="error"' in response.content
    assert not HubPush.objects.exists() and not HubToken.objects.exists()


@pytest.mark.django_db
def test_without_a_saved_token_one_must_be_pasted(hub, trained_run, login, owner):
    response = _push(login(owner), trained_run, token="")
    assert b"Paste a Hugging Face token" in response.content
    assert not HubPush.objects.exists()
    response = _push(login(owner), trained_run, token="hf_with space")
    assert b"A token has no spaces" in response.content


@pytest.mark.django_db
def test_offline_the_page_and_the_push_say_so(settings, trained_run, login, owner):
    settings.HF_ENDPOINT = _closed_port_url()
    response = _push(login(owner), trained_run)
    assert b"can&#x27;t be reached" in response.content
    assert not HubToken.objects.exists()

    HubToken.store(owner, GOOD, "alice")
    push = queue_hub_push(
        trained_run, owner, {"repo_id": _repo(trained_run), "private": True, "merged": False}
    )
    assert push_to_hub(str(push.pk)) == "failed"
    push.refresh_from_db()
    assert push.error == hub_module.OFFLINE


@pytest.mark.django_db
def test_a_namespace_the_token_cannot_write_fails_with_a_sentence(hub, trained_run, owner):
    HubToken.store(owner, GOOD, "alice")
    push = queue_hub_push(
        trained_run, owner, {"repo_id": "bigcorp/model", "private": True, "merged": False}
    )
    assert push_to_hub(str(push.pk)) == "failed"
    push.refresh_from_db()
    assert "may not write to that repository" in push.error
    assert "bigcorp/model" not in hub.models


@pytest.mark.django_db
def test_a_token_deleted_before_the_push_ran(hub, trained_run, login, owner):
    client = login(owner)
    HubToken.store(owner, GOOD, "alice")
    push = queue_hub_push(
        trained_run, owner, {"repo_id": _repo(trained_run), "private": True, "merged": False}
    )
    assert client.post(reverse("hub_token_remove", args=[trained_run.pk])).status_code == 302
    assert not HubToken.objects.exists()
    assert push_to_hub(str(push.pk)) == "failed"
    push.refresh_from_db()
    assert "token was removed" in push.error


@pytest.mark.django_db
def test_merged_is_offered_only_once_prepared(hub, trained_run, login, owner):
    client = login(owner)
    page = client.get(reverse("run_hub_push", args=[trained_run.pk]))
    assert b'value="merged"' not in page.content
    response = _push(client, trained_run, merged="merged")
    assert response.status_code == 200 and not HubPush.objects.exists()


@pytest.mark.django_db
def test_push_pages_are_team_only(hub, trained_run, login, outsider, viewer, member):
    url = reverse("run_hub_push", args=[trained_run.pk])
    client = login(outsider)
    assert client.get(url).status_code == 404
    assert _push(client, trained_run).status_code == 404
    assert client.post(reverse("hub_token_remove", args=[trained_run.pk])).status_code == 404
    client = login(viewer)
    assert client.get(url).status_code == 200
    assert _push(client, trained_run).status_code == 403
    assert not HubPush.objects.exists() and not HubToken.objects.exists()
    # A teammate never pushes with someone else's saved token.
    HubToken.store(viewer, GOOD, "alice")
    response = _push(login(member), trained_run, token="")
    assert b"Paste a Hugging Face token" in response.content


@pytest.mark.django_db
def test_the_model_card_carries_the_evaluation(trained_run, owner):
    Evaluation.objects.create(
        project=trained_run.project,
        run=trained_run,
        base_model=trained_run.base_model,
        dataset_version=trained_run.dataset_version,
        status=EvalStatus.SUCCEEDED,
        result={
            "base": {"f1": 0.21, "exact_match": 0.0, "rouge_l": 0.2, "bleu": 3.1},
            "tuned": {"f1": 0.64, "exact_match": 0.25, "rouge_l": 0.6, "bleu": 30.5},
            "base_quality": {"score": 31.0, "gate": "retrain"},
            "tuned_quality": {"score": 74.0, "gate": "ready"},
        },
    )
    card = hub_module.model_card(trained_run, merged=False)
    assert "Quality score 74/100" in card and "(+43 against the base model)" in card
    assert "| Token F1 | 0.210 | 0.640 |" in card


@pytest.mark.django_db
def test_the_commit_names_the_base_by_its_hub_id(hub, trained_run, owner, tiny_model_dir):
    _set_base(trained_run, source=TINY_ID)
    files = _pushed_files(hub, trained_run, owner)
    assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == TINY_ID
    assert f'BASE_MODEL = "{TINY_ID}"' in files["inference_example.py"].decode()
    card = files["README.md"].decode()
    assert f"base_model: {TINY_ID}" in card and f"puts it on {TINY_ID} with peft" in card
    # The tokenizer as transformers 4.56 reads it too (the download's files, not the raw folder).
    assert json.loads(files["tokenizer_config.json"])["tokenizer_class"] != "TokenizersBackend"
    _assert_nothing_of_this_machine(files, trained_run, tiny_model_dir)


@pytest.mark.django_db
def test_a_base_from_this_servers_disk_is_named_never_its_path(
    hub, trained_run, owner, tiny_model_dir
):
    assert Path(trained_run.base_model.source).is_absolute()
    files = _pushed_files(hub, trained_run, owner)
    assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] is None
    assert 'BASE_MODEL = ""' in files["inference_example.py"].decode()
    card = files["README.md"].decode()
    assert "base_model:" not in card and "has no public Hugging Face Hub id" in card
    assert trained_run.base_model.name in card and "set `BASE_MODEL`" in card
    _assert_nothing_of_this_machine(files, trained_run, tiny_model_dir)


@pytest.mark.django_db
def test_the_merged_model_is_pushed_as_transformers_4_reads_it(
    hub, trained_run, owner, tiny_model_dir
):
    exports.build_merged(trained_run)
    files = _pushed_files(hub, trained_run, owner, merged=True)
    assert "adapter_config.json" not in files and "model.safetensors" in files
    config = json.loads(files["config.json"])
    assert config["rope_theta"] == config["rope_parameters"]["rope_theta"]
    assert "library_name: transformers" in files["README.md"].decode()
    _assert_nothing_of_this_machine(files, trained_run, tiny_model_dir)
