"""The endpoint pages: what they show, what a careless form gets, and that every URL is
team-only (another team's object is a 404; a viewer changes nothing)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.endpoints import keys
from apps.endpoints.models import ApiKey, Deployment, DeploymentStatus, RequestLog
from apps.evaluations.models import EvalStatus, Evaluation

pytestmark = pytest.mark.django_db


def urls(deployed, key):
    e, d = deployed.endpoint, deployed
    return {
        "get": [
            reverse("project_endpoints", args=[e.project_id]),
            reverse("endpoint_detail", args=[e.pk]),
            reverse("endpoint_logs", args=[e.pk]),
            reverse("deployment_progress", args=[d.pk]),
            reverse("run_hub_push", args=[d.run_id]),
        ],
        "post": [
            reverse("key_create", args=[e.project_id]),
            reverse("run_deploy", args=[d.run_id]),
            reverse("run_hub_push", args=[d.run_id]),
            reverse("endpoint_settings", args=[e.pk]),
            reverse("endpoint_stop", args=[e.pk]),
            reverse("endpoint_ab", args=[e.pk]),
            reverse("endpoint_console", args=[e.pk]),
            reverse("deployment_activate", args=[d.pk]),
            reverse("deployment_delete", args=[d.pk]),
            reverse("key_rotate", args=[key.pk]),
            reverse("key_revoke", args=[key.pk]),
        ],
    }


def test_every_url_is_team_only(login, owner, outsider, viewer, deployed):
    key, _ = keys.create_key(deployed.endpoint.project, owner)
    found = urls(deployed, key)
    client = login(outsider)
    for url in found["get"] + found["post"]:
        method = client.get if url in found["get"] else client.post
        assert method(url).status_code == 404, url
    client = login(viewer)
    for url in found["get"]:
        assert client.get(url).status_code == 200, url
    for url in found["post"]:
        assert client.post(url).status_code == 403, url
    # Nothing changed on the way.
    key.refresh_from_db()
    deployed.refresh_from_db()
    assert key.revoked_at is None and deployed.weight == 100
    assert ApiKey.objects.count() == 1
    client.logout()
    assert client.get(found["get"][1]).status_code == 302  # to the log-in page


def test_the_live_page_shows_url_snippets_usage_and_versions(login, owner, deployed):
    html = (
        login(owner).get(reverse("endpoint_detail", args=[deployed.endpoint_id])).content.decode()
    )
    assert "Your model is live!" in html
    assert "http://testserver/v1" in html and deployed.endpoint.name in html
    for snippet in ("curl -X POST", "from openai import OpenAI", "await fetch("):
        assert snippet in html
    assert "Requests today" in html and "Uptime (24 h)" in html
    assert "no call or health check in the last 24 hours" in html
    assert f"v{deployed.run.number}" in html and "🟢 Live" in html
    assert deployed.served_model not in html  # the server's path stays private


def test_each_version_shows_its_evaluation_quality_score(login, owner, deployed):
    Evaluation.objects.create(
        project=deployed.run.project,
        run=deployed.run,
        base_model=deployed.run.base_model,
        dataset_version=deployed.run.dataset_version,
        status=EvalStatus.SUCCEEDED,
        result={"base_quality": {"score": 40.0}, "tuned_quality": {"score": 81.4}},
    )
    html = (
        login(owner).get(reverse("endpoint_detail", args=[deployed.endpoint_id])).content.decode()
    )
    assert "81/100" in html


def test_a_new_key_appears_once(login, owner, deployed):
    client = login(owner)
    response = client.post(
        reverse("key_create", args=[deployed.endpoint.project_id]), {"name": "web"}
    )
    html = response.content.decode()
    raw = html.split('data-testid="new-api-key">')[1].split("<")[0]
    assert raw.startswith("vf_live_") and ApiKey.objects.get().key_hash == keys.hash_key(raw)
    assert response["Cache-Control"] == "no-store"
    again = client.get(reverse("endpoint_detail", args=[deployed.endpoint_id])).content.decode()
    assert raw not in again and ApiKey.objects.get().prefix in again


def test_rotate_and_revoke_from_the_page(login, owner, deployed, settings):
    client = login(owner)
    key, _ = keys.create_key(deployed.endpoint.project, owner)
    response = client.post(reverse("key_rotate", args=[key.pk]), {"grace_s": "3600"})
    assert "1 hour" in response.content.decode()
    key.refresh_from_db()
    assert keys.key_state(key) == "rotating"
    # A grace period that is not offered is refused, and nothing changes.
    new = key.replaced_by
    client.post(reverse("key_rotate", args=[new.pk]), {"grace_s": "5"})
    new.refresh_from_db()
    assert new.replaced_by is None
    client.post(reverse("key_revoke", args=[new.pk]))
    new.refresh_from_db()
    assert keys.key_state(new) == "revoked"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_limit_rpm", "0"),
        ("timeout_s", "9999"),
        ("tokens_per_minute", "many"),
        ("timeout_s", ""),
    ],
)
def test_settings_refuse_bad_values_and_keep_the_old_ones(login, owner, deployed, field, value):
    endpoint = deployed.endpoint
    data = {"rate_limit_rpm": "100", "tokens_per_minute": "1000", "timeout_s": "30", field: value}
    response = login(owner).post(reverse("endpoint_settings", args=[endpoint.pk]), data)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.rate_limit_rpm, endpoint.timeout_s) == (100, 30)


def test_settings_save(login, owner, deployed):
    endpoint = deployed.endpoint
    data = {"rate_limit_rpm": "7", "tokens_per_minute": "5000", "timeout_s": "12"}
    assert (
        login(owner).post(reverse("endpoint_settings", args=[endpoint.pk]), data).status_code == 302
    )
    endpoint.refresh_from_db()
    assert (endpoint.rate_limit_rpm, endpoint.tokens_per_minute, endpoint.timeout_s) == (
        7,
        5000,
        12,
    )


def test_stop_start_and_bad_ab_input(login, owner, deployed):
    client = login(owner)
    endpoint = deployed.endpoint
    client.post(reverse("endpoint_stop", args=[endpoint.pk]), {"action": "stop"})
    endpoint.refresh_from_db()
    assert endpoint.status == "stopped"
    client.post(reverse("endpoint_stop", args=[endpoint.pk]), {"action": "start"})
    endpoint.refresh_from_db()
    assert endpoint.status == "live"
    for data in (
        {"action": "start", "candidate": str(deployed.pk), "weight": "20"},
        {"action": "start", "candidate": "nope", "weight": "500"},
        {"action": "switch"},
        {"action": "explode"},
    ):
        response = client.post(reverse("endpoint_ab", args=[endpoint.pk]), data, follow=True)
        assert "message-error" in response.content.decode(), data
    assert Deployment.objects.get(pk=deployed.pk).weight == 100


def test_deploy_button_and_its_refusals(login, owner, trained_run, serving):
    client = login(owner)
    response = client.post(
        reverse("run_deploy", args=[trained_run.pk]), {"endpoint": "not-an-id"}, follow=True
    )
    assert "Choose one of this project" in response.content.decode()
    response = client.post(reverse("run_deploy", args=[trained_run.pk]))
    deployment = Deployment.objects.get()
    assert response.url == reverse("endpoint_detail", args=[deployment.endpoint_id])
    assert deployment.status == DeploymentStatus.QUEUED
    page = client.get(response.url).content.decode()
    assert "Creating API Endpoint" in page and "Packaging model" in page


async def test_the_console_streams_through_the_same_path(
    async_client, transactional_db, seeded_catalog, deployed, owner
):
    await async_client.aforce_login(owner)
    response = await async_client.post(
        reverse("endpoint_console", args=[deployed.endpoint_id]),
        json.dumps(
            {
                "model": deployed.endpoint.name,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4,
                "stream": True,
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    text = b"".join([c async for c in response.streaming_content]).decode()
    assert text.rstrip().endswith("data: [DONE]")
    row = await RequestLog.objects.aget()
    assert row.from_console and row.api_key_id is None and row.tokens_out > 0


def test_download_is_a_zip_that_runs_locally(login, owner, outsider, trained_run):
    import io
    import zipfile

    url = reverse("run_download", args=[trained_run.pk])
    assert login(outsider).get(url).status_code == 404
    response = login(owner).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="support-bot-v1.zip"')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "requirements.txt",
        "inference_example.py",
        "README.md",
    } <= names
    compile(archive.read("inference_example.py"), "inference_example.py", "exec")
    assert "Ollama" in archive.read("README.md").decode()


def test_merged_download_is_built_by_a_task_then_served(
    login, owner, outsider, viewer, trained_run
):
    import io
    import zipfile

    from apps.endpoints.tasks import export_merged

    url = reverse("run_download_merged", args=[trained_run.pk])
    assert login(outsider).get(url).status_code == 404
    assert login(viewer).post(url).status_code == 403
    client = login(owner)
    assert "Prepare the merged model" in client.get(url).content.decode()
    client.post(url)
    assert "Waiting its turn on the server" in client.get(url).content.decode()
    assert export_merged(str(trained_run.pk)) == "ready"
    page = client.get(url).content.decode()
    assert "Download the merged model (.zip)" in page
    response = client.get(url + "?file=1")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {"config.json", "model.safetensors", "inference_example.py", "README.md"} <= names
    assert "adapter_config.json" not in names  # one whole model, no peft needed
