"""Prices refreshed from RunPod through the real runpod SDK, pointed at a local GraphQL server."""

from decimal import Decimal

import pytest

from apps.catalog.models import Hardware
from apps.catalog.pricing import PricesUnavailable, refresh_runpod_prices
from apps.catalog.tasks import refresh_gpu_prices
from tests.fakes.runpod_api import FakeRunPod

pytestmark = pytest.mark.django_db


@pytest.fixture
def runpod_api(monkeypatch, settings):
    with FakeRunPod(
        {"NVIDIA GeForce RTX 4090": 0.34, "NVIDIA H100 80GB HBM3": 2.69, "NVIDIA L40S": 0.79}
    ) as fake:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
        settings.RUNPOD_API_KEY = "rp-test-key"
        yield fake


def test_it_stores_current_prices_with_their_source(runpod_api):
    changes = refresh_runpod_prices()
    assert {c.slug for c in changes} == {"rtx-4090", "h100", "l40s"}
    h100 = Hardware.objects.get(slug="h100")
    assert h100.hourly_price == Decimal("2.690")
    assert h100.price_source == "RunPod's lowest on-demand price"
    # RunPod does not list the A100 80GB here, and never offered the T4: both keep their price and source.
    assert Hardware.objects.get(slug="a100-80gb").price_source == "VibeFlow's default list price"
    assert Hardware.objects.get(slug="t4").hourly_price == Decimal("0.150")
    assert all("gpuTypes" in q for q in runpod_api.queries)


def test_a_refused_key_changes_nothing(runpod_api, settings):
    settings.RUNPOD_API_KEY = "wrong"
    with pytest.raises(PricesUnavailable, match="refused the API key"):
        refresh_runpod_prices()
    assert Hardware.objects.get(slug="h100").hourly_price == Decimal("2.000")


def test_without_a_key_the_job_says_so(settings):
    settings.RUNPOD_API_KEY = ""
    assert refresh_gpu_prices() == "skipped: Set RUNPOD_API_KEY to refresh prices from RunPod."


def test_unreachable_runpod_is_a_sentence(monkeypatch, settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RUNPOD_API_BASE_URL", f"http://127.0.0.1:{port}")
    settings.RUNPOD_API_KEY = "k"
    with pytest.raises(PricesUnavailable, match="could not be reached"):
        refresh_runpod_prices()
