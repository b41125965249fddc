"""In the browser: a trained version deploys (the steps of docs/PRODUCT.md 6.2, then "live"), the test console
streams an answer, a key is made, called, rotated (the old one fails after its grace period),
a second version goes live and a rollback brings the first back."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.projects.models import Project
from tests.endpoints.conftest import inference_server, next_version  # noqa: F401  (a fixture)
from tests.evaluation.conftest import trained_run  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.e2e]

PASSWORD = "analytical-engine-1843"
GRACE_S = 4


@pytest.fixture
def serving_env(monkeypatch, inference_server):  # noqa: F811
    """What Daphne and the worker started after this read from the environment."""
    monkeypatch.setenv("INFERENCE_SERVER_URL", inference_server)
    monkeypatch.setenv("API_KEY_ROTATION_GRACE_S", f"0,{GRACE_S},3600")


@pytest.fixture
def versions(transactional_db, seeded_catalog, trained_run):  # noqa: F811
    """Two trained versions of one project, owned by a user who logs in with a password."""
    user = User.objects.create_user("ada@example.com", PASSWORD)
    project = trained_run.project
    project.team.memberships.create(user=user, role="owner")
    v2 = next_version(trained_run)
    return trained_run, v2


def call(base: str, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": "where is my invoice"}],
            "max_tokens": 3,
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_deploy_console_keys_rotation_and_rollback(
    serving_env, live_server_url, versions, live_worker, browser_page, screenshot
):
    v1, v2 = versions
    page = browser_page
    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Email:").fill("ada@example.com")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()

    # Deploy v1 from its page: the docs/PRODUCT.md 6.2 steps, then the live page.
    page.goto(f"{live_server_url}/runs/{v1.pk}/")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_text("Creating API Endpoint…")).to_be_visible()
    screenshot("deploy-1-steps")
    expect(page.get_by_role("heading", name="✅ Your model is live!")).to_be_visible(
        timeout=120_000
    )
    model = page.locator("#model-name").inner_text()
    screenshot("deploy-2-live")

    # The test console streams an answer through the gateway.
    page.get_by_label("Input").fill("how do i reset my password")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#console-meta")).to_have_text(
        re.compile(r"tokens in, \d+ out"), timeout=60_000
    )
    assert page.locator("#console-output").inner_text() != "Response will appear here…"
    screenshot("deploy-3-console")

    # A key, shown once, calls the endpoint from outside.
    page.get_by_role("button", name="Create API key").click()
    old_key = page.get_by_test_id("new-api-key").inner_text()
    assert call(live_server_url, old_key, model).status_code == 200

    # Rotate with a short grace period: both keys work, then only the new one.
    page.get_by_label("Grace period").select_option(str(GRACE_S))
    page.get_by_role("button", name="Rotate").click()
    new_key = page.get_by_test_id("new-api-key").inner_text()
    rotated_at = time.monotonic()
    assert new_key != old_key
    assert call(live_server_url, new_key, model).status_code == 200
    screenshot("deploy-4-rotated")
    time.sleep(max(0.0, GRACE_S + 0.5 - (time.monotonic() - rotated_at)))
    refused = call(live_server_url, old_key, model)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert call(live_server_url, new_key, model).status_code == 200

    # v2 replaces v1 once healthy; Rollback brings v1 back.
    page.goto(f"{live_server_url}/runs/{v2.pk}/")
    page.get_by_role("button", name="Deploy").click()
    versions_table = page.locator("#versions-title + table")
    expect(versions_table.locator('tr[data-version="v2"]')).to_contain_text(
        "🟢 Live", timeout=120_000
    )
    expect(versions_table.locator('tr[data-version="v1"]')).to_contain_text("Inactive")
    expect(versions_table.locator('tr[data-version="v2"]')).to_contain_text("100%")
    screenshot("deploy-5-v2-live")
    versions_table.locator('tr[data-version="v1"]').get_by_role("button", name="Rollback").click()
    expect(versions_table.locator('tr[data-version="v1"]')).to_contain_text(
        "🟢 Live", timeout=120_000
    )
    expect(versions_table.locator('tr[data-version="v2"]')).to_contain_text("Inactive")
    assert call(live_server_url, new_key, model).status_code == 200
    screenshot("deploy-6-rolled-back")


def test_project_page_lists_endpoints(transactional_db, seeded_catalog):
    user = User.objects.create_user("lin@example.com", PASSWORD)
    project = Project.objects.create(
        team=user.memberships.get().team, name="Empty", created_by=user
    )
    client = Client()
    client.force_login(user)
    html = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Nothing deployed yet" in html
