"""In the browser: a project with two versions shows its history graph; a branch of v1 trains on
from v1's adapter; v1 and v2 merge into a version that is evaluated by itself, and the history
shows its score against v1.

The two versions' adapters are written, not trained (random LoRA updates on the bundled model,
tests/conftest.py bundled_adapters): the branch and the merge are what this test runs for real,
on the live worker."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.projects.models import Project
from apps.training.models import RunStatus, TrainingRun
from tests.training.helpers import draft_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "difference-engine-1822"


@pytest.fixture
def versions(transactional_db, seeded_catalog, bundled_adapters):
    user = User.objects.create_user("ada@example.com", PASSWORD)
    project = Project.objects.create(
        team=user.memberships.get().team, name="Support", created_by=user
    )
    client = Client()
    client.force_login(user)
    # 8 training examples at batch 4, one epoch: the branch trains 2 steps.
    first = draft_run(client, project, epochs=1, batch_size=4, gradient_accumulation=1)
    client.post(reverse("run_new", args=[project.pk]))
    second = project.runs.exclude(pk=first.pk).get()
    for run, adapter in zip((first, second), bundled_adapters, strict=True):
        TrainingRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED,
            adapter_dir=adapter,
            wall_seconds=60.0,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            epochs=1,
            batch_size=4,
            gradient_accumulation=1,
        )
    return project, str(first.pk), str(second.pk)


def test_history_branch_and_merge(live_server_url, live_worker, versions, browser_page, screenshot):
    page = browser_page
    project, first_id, second_id = versions
    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Email:").fill("ada@example.com")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server_url}/projects/{project.pk}/")
    page.get_by_role("link", name="Model history").click()
    graph = page.locator(".history-graph svg")
    expect(graph.locator("circle")).to_have_count(3)  # the base, v1, v2
    expect(graph.locator("path")).to_have_count(2)
    screenshot("history-1-two-versions")

    # Branch from v1: a draft that continues v1's adapter; started, it trains on from it.
    page.get_by_role("button", name="Branch from v1").click()
    expect(page.locator("#run-lineage")).to_contain_text("Continues v1")
    expect(page.get_by_label("LoRA rank (r)")).to_be_disabled()
    page.get_by_role("button", name="Start Training").click()
    progress = page.locator("#run-progress")
    expect(progress.get_by_text("Status: Succeeded")).to_be_visible(timeout=300_000)
    progress.get_by_text("View Detailed Logs").click()
    expect(progress.get_by_text("Continuing the earlier version's adapter")).to_be_attached()
    screenshot("history-2-branch-trained")

    # Merge v1 and v2 (TIES): a new version, combined on the worker, then evaluated.
    page.goto(f"{live_server_url}/projects/{project.pk}/history/")
    merge = page.locator("form[action$='/merge/']")
    merge.get_by_label("First version", exact=True).select_option(first_id)
    merge.get_by_label("Second version", exact=True).select_option(second_id)
    merge.get_by_label("Method", exact=True).select_option("ties")
    merge.get_by_role("button", name="Merge").click()
    expect(page.locator("#run-lineage")).to_contain_text("A merge of v1")
    expect(progress.get_by_text("Status: Succeeded")).to_be_visible(timeout=300_000)
    progress.get_by_role("link", name=re.compile(r"Evaluation")).click()
    expect(page.get_by_role("heading", name="Overall Quality Score")).to_be_visible(timeout=600_000)
    screenshot("history-3-merge-evaluated")

    page.goto(f"{live_server_url}/projects/{project.pk}/history/")
    expect(graph.locator("circle")).to_have_count(5)  # base, v1, v2, the branch v3, the merge v4
    expect(graph.locator("path.history-merge")).to_have_count(1)
    expect(page.locator("#v4")).to_contain_text("Merge v1 and v2 (TIES, 0.5/0.5)")
    expect(page.locator("#v4")).to_contain_text(re.compile(r"Quality [\d.]+/100|vs the base model"))
    expect(page.locator("#v3")).to_contain_text("Continue v1 on")
    screenshot("history-4-graph")
