"""The whole journey, from sign-up to a called endpoint, in a real browser with no hand-made
fixtures (the steps are in tests/e2e/journey.py). Screenshots: test-output/e2e/journey-*.png."""

from __future__ import annotations

import pytest

from tests.endpoints.conftest import inference_server  # noqa: F401  (a fixture)

from .journey import walk

# Training with the recommended configuration (5 epochs on CPU) takes most of its ~12 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture
def serving_env(monkeypatch, inference_server):  # noqa: F811
    """What Daphne and the worker started after this read from the environment."""
    monkeypatch.setenv("INFERENCE_SERVER_URL", inference_server)


def test_from_sign_up_to_a_called_endpoint(
    serving_env, live_server_url, live_worker, browser_page, screenshot
):
    browser_page.set_default_timeout(30_000)
    walk(browser_page, live_server_url, screenshot=screenshot)
