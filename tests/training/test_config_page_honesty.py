"""The configuration page says what can really happen here: GPUs this installation cannot use
carry no green mark, a Start Training that cannot start looks disabled and says why, and the
data just accepted is already chosen."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.catalog.models import Hardware
from apps.datasets.models import DatasetVersion
from apps.datasets.tasks import analyse_version
from apps.training.models import RunStatus, TrainingRun
from tests.training.helpers import SMALL_CSV, draft_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_gpu_provider(settings):
    settings.RUNPOD_API_KEY, settings.VIBEFLOW_PUBLIC_URL, settings.GPU_WORKERS = "", "", False


def page(client, run) -> str:
    return unescape(client.get(reverse("run_config", args=[run.pk])).content.decode())


def hardware_line(html: str, name: str) -> str:
    """The line of the estimate's hardware list that names ``name``."""
    return next(
        line.strip()
        for line in html.splitlines()
        if "<li" in line and name in line and " · " in line
    )


def start_button(html: str) -> str:
    return re.search(r"<button[^>]*>Start Training</button>", html).group(0)


def test_a_gpu_that_cannot_be_used_here_has_no_green_mark(login, owner, project, no_gpu_provider):
    client = login(owner)
    html = page(client, draft_run(client, project))
    a100 = hardware_line(html, "NVIDIA A100 80GB")
    assert "✅" not in a100 and "🚫" in a100
    assert "can't be used here: no GPU provider is connected" in a100
    assert "✅" in hardware_line(html, "This server's CPU")
    assert "RUNPOD_API_KEY" not in html and "not available here" not in html


def test_the_selected_unusable_gpu_is_explained_in_user_words(
    login, owner, project, no_gpu_provider
):
    client = login(owner)
    run = draft_run(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(hardware=Hardware.objects.get(slug="h100"))
    html = page(client, run)
    assert "NVIDIA H100 (80 GB) can't be used on this installation" in html
    assert "ask your administrator to connect a GPU provider" in html
    assert "❌ Hardware: NVIDIA H100 (80 GB) can't be used on this installation" in html
    assert "RUNPOD_API_KEY" not in html and "VIBEFLOW_GPU_WORKERS" not in html
    # Disabled, with the reason next to it.
    button = start_button(html)
    assert "disabled" in button and 'aria-describedby="start-blocker"' in button
    assert re.search(r"id=\"start-blocker\"[^>]*>NVIDIA H100 \(80 GB\) can't be used", html)


def test_staff_also_see_what_to_configure(client, owner, project, no_gpu_provider):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client.force_login(owner)
    run = draft_run(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(hardware=Hardware.objects.get(slug="h100"))
    assert "For administrators: Set RUNPOD_API_KEY" in page(client, run)


def test_a_gpu_offered_by_the_connected_provider_is_marked_as_fitting(
    login, owner, project, settings
):
    settings.RUNPOD_API_KEY, settings.VIBEFLOW_PUBLIC_URL = "key", "https://vibeflow.example"
    client = login(owner)
    html = page(client, draft_run(client, project))
    assert hardware_line(html, "NVIDIA A100 80GB").startswith("<li>✅")
    # RunPod does not offer the T4: it says so, and has no mark of fitting.
    t4 = hardware_line(html, "NVIDIA T4")
    assert "✅" not in t4 and "the GPU provider connected here does not offer it" in t4


def test_the_catalog_says_which_gpus_can_be_used_here(login, owner, no_gpu_provider):
    client = login(owner)
    html = unescape(
        client.get(reverse("catalog_model", args=["mistral-7b-instruct"])).content.decode()
    )
    assert "On this installation" in html
    assert (
        html.count("can't be used here: no GPU provider is connected")
        == Hardware.objects.filter(is_cpu=False).count()
    )
    assert "product spec" not in html and "HF_TOKEN" not in html
    listing = unescape(client.get(reverse("catalog_hardware")).content.decode())
    assert "🚫 can't be used here: no GPU provider is connected" in listing
    assert "✅ can be used" in listing  # the CPU


def test_start_without_data_is_disabled_and_says_why(login, owner, project):
    client = login(owner)
    client.post(reverse("run_new", args=[project.pk]))  # no data yet
    run = TrainingRun.objects.get(project=project)
    html = page(client, run)
    assert "disabled" in start_button(html)
    assert "Choose the training data in Settings and save, then start." in html


def test_a_startable_run_has_an_enabled_button(login, owner, project):
    client = login(owner)
    html = page(client, draft_run(client, project))
    assert "disabled" not in start_button(html) and 'id="start-blocker"' not in html


def test_disabled_buttons_look_disabled():
    css = (Path(django_settings.BASE_DIR) / "static" / "css" / "vibeflow.css").read_text()
    rule = re.search(r"button:disabled,[^{]*\{([^}]*)\}", css)
    assert rule, "no rule for disabled buttons"
    assert ".btn:disabled:hover" in css and '.btn[aria-disabled="true"]' in css
    assert "cursor: not-allowed" in rule.group(1) and "var(--gray-200)" in rule.group(1)


def ready_version(client, project, accept: bool = True) -> DatasetVersion:
    client.post(
        reverse("dataset_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("small.csv", SMALL_CSV)},
    )
    version = DatasetVersion.objects.filter(dataset__project=project).latest("created_at")
    analyse_version(str(version.pk))
    if accept:
        client.post(reverse("version_accept", args=[version.pk]))
    version.refresh_from_db()
    return version


def empty_draft(client, project) -> TrainingRun:
    client.post(reverse("run_new", args=[project.pk]))
    return TrainingRun.objects.filter(project=project).latest("number")


def test_the_only_accepted_version_is_preselected(login, owner, project):
    client = login(owner)
    run = empty_draft(client, project)
    assert run.dataset_version is None
    version = ready_version(client, project)
    html = page(client, run)
    assert f'<option value="{version.pk}" selected>' in html
    assert "✅ Training Data: 8 examples loaded" in html and "none chosen" not in html
    assert "disabled" not in start_button(html)
    run.refresh_from_db()
    assert run.dataset_version == version


def test_the_version_just_accepted_is_preselected_among_several(login, owner, project):
    client = login(owner)
    ready_version(client, project)
    run = empty_draft(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(dataset_version=None)
    latest = ready_version(client, project)  # "Looks good!", then to the configuration
    page(client, run)
    run.refresh_from_db()
    assert run.dataset_version == latest


def test_several_accepted_and_none_just_now_leave_the_choice_to_the_user(owner, project, login):
    client = login(owner)
    ready_version(client, project)
    ready_version(client, project)
    run = empty_draft(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(dataset_version=None)
    fresh = Client()  # another session: nothing accepted in it
    fresh.force_login(owner)
    assert "Training Data: none chosen" in page(fresh, run)
    run.refresh_from_db()
    assert run.dataset_version is None


def test_nothing_is_preselected_before_looks_good_or_for_a_viewer(login, owner, viewer, project):
    client = login(owner)
    run = empty_draft(client, project)
    ready_version(client, project, accept=False)
    page(client, run)
    run.refresh_from_db()
    assert run.dataset_version is None  # ready, but not accepted
    version = DatasetVersion.objects.get(dataset__project=project)
    DatasetVersion.objects.filter(pk=version.pk).update(accepted_at=version.created_at)
    page(login(viewer), run)  # viewers change nothing, not even this
    run.refresh_from_db()
    assert run.dataset_version is None


def test_a_started_run_keeps_its_data(login, owner, project):
    client = login(owner)
    run = empty_draft(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    ready_version(client, project)
    page(client, run)
    run.refresh_from_db()
    assert run.dataset_version is None


def test_the_run_page_says_cpu_time_for_a_cpu_run(login, owner, project):
    client = login(owner)
    run = draft_run(client, project)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, adapter_dir="/nowhere", wall_seconds=42
    )
    html = page(client, run)
    assert "Adapter saved (42 s of CPU time)" in html
