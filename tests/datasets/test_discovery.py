"""Finding and importing Hub datasets, with the real huggingface_hub client against a local Hub."""

import socket

import pytest
from django.urls import reverse

from apps.datasets import discovery
from apps.datasets.models import Dataset, DatasetVersion, VersionStatus
from apps.datasets.samples import SAMPLES
from apps.datasets.tasks import analyse_version
from tests.fakes.hf_hub import FakeHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(settings):
    with FakeHub() as fake:
        fake.add(
            "acme/support-replies",
            {
                "README.md": b"# card",
                "data/train.csv": SAMPLES["customer-support"]["file"].read_bytes(),
                "data/test.csv": b"q,a\n1,2\n",
            },
            tags=["license:mit", "size_categories:n<1K"],
            features=["ticket_id", "created_at", "customer_message", "support_reply"],
        )
        fake.add("acme/images-only", {"README.md": b"# card", "images.zip": b"PK\x03\x04"})
        settings.HF_ENDPOINT = fake.url
        settings.HF_TOKEN = ""
        yield fake


@pytest.fixture
def closed_port(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.HF_ENDPOINT = f"http://127.0.0.1:{port}"


def test_search_reads_id_license_size_and_columns(hub):
    [found] = discovery.search("support")
    assert found.id == "acme/support-replies"
    assert (found.license, found.size_category) == ("mit", "n<1K")
    assert found.columns == ["ticket_id", "created_at", "customer_message", "support_reply"]
    assert "GET /api/datasets" in hub.requests


def test_the_training_split_is_picked(hub):
    info = discovery.describe("acme/support-replies")
    assert discovery.pick_file(info).name == "data/train.csv"
    assert discovery.pick_file(discovery.describe("acme/images-only")) is None


def test_the_discover_page_lists_results(login, owner, project, hub):
    html = (
        login(owner)
        .get(
            reverse("dataset_discover", args=[project.pk]),
            {"q": "support"},
            headers={"HX-Request": "true"},
        )
        .content.decode()
    )
    assert "acme/support-replies" in html and "license: mit" in html and "customer_message" in html


def test_offline_the_page_says_so_and_offers_samples(login, owner, project, closed_port):
    html = (
        login(owner)
        .get(reverse("dataset_discover", args=[project.pk]), {"q": "support"})
        .content.decode()
    )
    assert "be reached from this server" in html
    assert SAMPLES["customer-support"]["title"] in html


def test_a_missing_token_is_explained(login, owner, project, hub):
    hub.require_token = "hf_secret"
    html = (
        login(owner)
        .get(reverse("dataset_discover", args=[project.pk]), {"q": "support"})
        .content.decode()
    )
    assert "HF_TOKEN" in html


def test_import_by_id_goes_through_detection_and_quality(login, owner, project, hub):
    response = login(owner).post(
        reverse("dataset_hub_import", args=[project.pk]), {"repo_id": "acme/support-replies"}
    )
    version = DatasetVersion.objects.get()
    assert response.url == reverse("version_detail", args=[version.pk])
    assert version.source is None and version.hub_source == {
        "repo_id": "acme/support-replies",
        "filename": "data/train.csv",
    }
    assert analyse_version(str(version.pk)) == "ready"
    version.refresh_from_db()
    assert version.source is not None and version.total == 300
    assert version.mapping["inputs"] == ["customer_message"]
    assert any(r.startswith("HEAD /datasets/acme/support-replies/resolve/") for r in hub.requests)


@pytest.mark.parametrize(
    "repo_id, message",
    [
        ("", "not a Hub dataset id"),
        ("../etc/passwd", "not a Hub dataset id"),
        ("acme/nope", "No dataset with that id"),
        ("acme/images-only", "no CSV, JSON, JSONL or Parquet"),
    ],
)
def test_bad_imports_are_refused_with_a_sentence(login, owner, project, hub, repo_id, message):
    response = login(owner).post(
        reverse("dataset_hub_import", args=[project.pk]), {"repo_id": repo_id}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_download_that_fails_ends_the_version_with_a_sentence(login, owner, project, hub):
    login(owner).post(
        reverse("dataset_hub_import", args=[project.pk]), {"repo_id": "acme/support-replies"}
    )
    version = DatasetVersion.objects.get()
    hub.datasets["acme/support-replies"]["files"].pop("data/train.csv")
    assert analyse_version(str(version.pk)) == "failed"
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED and version.error


def test_viewers_cannot_import_and_outsiders_see_nothing(login, viewer, outsider, project, hub):
    assert (
        login(viewer)
        .post(reverse("dataset_hub_import", args=[project.pk]), {"repo_id": "acme/support-replies"})
        .status_code
        == 403
    )
    client = login(outsider)
    assert client.get(reverse("dataset_discover", args=[project.pk]), {"q": "x"}).status_code == 404
    assert (
        client.post(
            reverse("dataset_hub_import", args=[project.pk]), {"repo_id": "acme/support-replies"}
        ).status_code
        == 404
    )
    assert not Dataset.objects.exists()
