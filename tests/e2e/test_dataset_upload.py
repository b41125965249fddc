"""Each sample format uploaded in the browser becomes a mapped, scored, split version."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.datasets.samples import SAMPLES
from apps.projects.models import Project

pytestmark = pytest.mark.e2e

PASSWORD = "analytical-engine-1843"


def log_in(page, url):
    page.goto(url + "/accounts/login/")
    page.get_by_label("Email:").fill("grace@example.com")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


@pytest.fixture
def project(transactional_db):
    user = User.objects.create_user("grace@example.com", PASSWORD)
    return Project.objects.create(team=user.memberships.get().team, name="Support", created_by=user)


def test_each_sample_format_uploads_and_is_analysed(
    live_server_url, live_worker, project, browser_page, screenshot, tmp_path
):
    alpaca = json.loads(SAMPLES["alpaca-tasks"]["file"].read_text())
    parquet = tmp_path / "alpaca.parquet"
    pq.write_table(pa.Table.from_pylist(alpaca), parquet)

    page = browser_page
    log_in(page, live_server_url)
    cases = [
        (
            SAMPLES["customer-support"]["file"],
            "“customer_message” → Input Text",
            "Total examples: 300",
        ),
        (SAMPLES["product-reviews"]["file"], "“text” → Input Text", "Total examples: 240"),
        (SAMPLES["alpaca-tasks"]["file"], "“instruction” → Input Text", "Total examples: 120"),
        (parquet, "“input” → Input Text", "Total examples: 120"),
    ]
    for number, (path, mapped, total) in enumerate(cases, start=1):
        page.goto(f"{live_server_url}/projects/{project.pk}/datasets/")
        page.set_input_files("#upload-file", str(path))
        expect(page.get_by_role("heading", name="Data Quality Report")).to_be_visible(timeout=60000)
        expect(page.get_by_text(mapped)).to_be_visible()
        expect(page.get_by_text(total)).to_be_visible()
        expect(page.get_by_text("train,")).to_be_visible()
        screenshot(f"dataset-{number}-{path.suffix.lstrip('.')}")

    # Fix what the report found: a new version without the duplicates.
    page.goto(f"{live_server_url}/projects/{project.pk}/datasets/")
    page.get_by_role("link", name="customer_support.csv").click()
    page.get_by_role("button", name="Remove Duplicates").click()
    expect(page.get_by_role("heading", name="Data Quality Report")).to_be_visible(timeout=60000)
    expect(page.get_by_text("Duplicates: none")).to_be_visible()
    expect(page.locator("h1").get_by_text("v2", exact=True)).to_be_visible()
    screenshot("dataset-5-deduplicated")
