"""In the browser: a run on the bundled model starts, its curve draws live over the WebSocket,
Stop leaves a stopped run with an adapter, Resume goes on from its step to `succeeded`, and the
evaluation that follows by itself shows base vs tuned."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.projects.models import Project
from tests.training.helpers import draft_run

# 10 rows, 8 train and 2 test, each question a long paragraph (about 300 tokens) and the answer
# short: every step takes seconds on a CPU, so the run is still going when Stop lands after the
# first checkpoint. (With one-line rows the 4 steps left took 3 s, and a run on a fast machine
# could end before the click reached it.)
PASSAGE = " ".join(
    f"Clause {n} of the service agreement says that the customer keeps every record of the "
    "order, the invoice and the delivery note for at least seven years."
    for n in range(12)
)
SLOW_CSV = b"question,answer\n" + b"".join(
    f'"{PASSAGE} Given all of that, how do I file request number {i}?",'
    f"Open the archive and pick request {i}.\n".encode()
    for i in range(10)
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "analytical-engine-1843"


@pytest.fixture
def run(transactional_db, seeded_catalog):
    user = User.objects.create_user("grace@example.com", PASSWORD)
    project = Project.objects.create(
        team=user.memberships.get().team, name="Support", created_by=user
    )
    client = Client()
    client.force_login(user)
    # 8 training examples at batch 4: 2 steps and a checkpoint per epoch, 6 steps in all.
    return draft_run(client, project, SLOW_CSV, epochs=3, batch_size=4, gradient_accumulation=1)


def test_start_watch_stop_resume_finish_and_evaluate(
    live_server_url, live_worker, run, browser_page, screenshot
):
    page = browser_page
    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Email:").fill("grace@example.com")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server_url}/runs/{run.pk}/")

    page.get_by_role("button", name="Start Training").click()
    expect(page.get_by_text(re.compile(r"queued"))).to_be_visible()
    live = page.locator("#run-live-summary")
    # The first point arrives over the WebSocket once the model has loaded.
    expect(live).to_have_text(re.compile(r"^Step \d+/6"), timeout=180_000)
    expect(page.locator("#run-chart canvas").first).to_be_attached()
    # The live panel: epoch, time left, learning rate, and each checkpoint with its loss.
    panel = page.locator("#run-panel")
    expect(panel.get_by_test_id("epoch")).to_have_text(re.compile(r"^\d\.\d of 3$"))
    expect(panel.get_by_test_id("remaining")).to_have_text(re.compile(r"^\d+[smh].* remaining$"))
    # (0 on the first step of a warm-up: the trainer logs the rate that step used)
    expect(panel.get_by_test_id("learning-rate")).to_have_text(re.compile(r"^(0|\d\.\d\de-\d\d)$"))
    expect(panel.get_by_test_id("efficiency")).to_contain_text("tokens/s")
    expect(panel.get_by_test_id("checkpoints")).to_contain_text("step 2", timeout=120_000)
    screenshot("training-1-live-curve")

    page.once("dialog", lambda dialog: dialog.accept())  # "Stop training? ..."
    page.get_by_role("button", name="Stop Training").click()
    progress = page.locator("#run-progress")
    expect(progress.get_by_text("Status: Stopped")).to_be_visible(timeout=120_000)
    badge = page.locator("#run-status-badge")  # the header follows the state, no reload
    expect(badge).to_have_text("Stopped")
    expect(progress.get_by_text(re.compile(r"^Adapter saved \("))).to_be_visible()
    screenshot("training-2-stopped")

    progress.get_by_role("button", name="Resume Training").click()
    expect(progress.get_by_text("Status: Succeeded")).to_be_visible(timeout=300_000)
    expect(badge).to_have_text("Succeeded")
    expect(progress.get_by_text(re.compile(r"Steps 6/6"))).to_be_visible()
    progress.get_by_text("View Detailed Logs").click()
    expect(
        progress.get_by_text(re.compile(r"Training resumed from checkpoint-\d"))
    ).to_be_attached()
    screenshot("training-3-succeeded")

    # The evaluation was queued by the finished run; its page polls until it is done.
    progress.get_by_role("link", name=re.compile(r"Evaluation")).click()
    expect(page.get_by_role("heading", name="Overall Quality Score")).to_be_visible(timeout=300_000)
    expect(page.get_by_text("Key Metrics")).to_be_visible()
    screenshot("training-4-evaluation")
