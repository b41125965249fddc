"""The whole journey, from sign-up to a called endpoint, in a real browser with no hand-made
fixtures (the steps are in tests/e2e/journey.py). Screenshots: test-output/e2e/journey-*.png.

It is also the suite's one run of the product's promise on the real parts: the bundled model,
trained for two epochs with LoRA on the customer-support sample, answers its held-out test
split measurably better than before, and the evaluation that follows the run by itself says so.
(The demo's finished example trains the same way.) One trained bundled model serves both checks:
training it is most of this test's time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.evaluations.models import EvalStatus, Evaluation
from tests.endpoints.conftest import inference_server  # noqa: F401  (a fixture)

from .journey import walk

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

# Two epochs instead of the recommended five (on CPU) keep the suite short; one epoch, mostly
# warm-up, moved token F1 by under 0.01.
EPOCHS = 2


@pytest.fixture
def serving_env(monkeypatch, inference_server):  # noqa: F811
    """What Daphne and the worker started after this read from the environment."""
    monkeypatch.setenv("INFERENCE_SERVER_URL", inference_server)


def test_from_sign_up_to_a_called_endpoint(
    serving_env, live_server_url, live_worker, browser_page, screenshot
):
    browser_page.set_default_timeout(30_000)
    walk(browser_page, live_server_url, screenshot=screenshot, epochs=EPOCHS)

    # Playwright's sync API runs an event loop in this thread, where the ORM refuses to run.
    def read():
        try:
            evaluation = Evaluation.objects.select_related("run", "dataset_version").get()
            return evaluation, evaluation.run.epochs, evaluation.dataset_version.test_count
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as thread:
        evaluation, epochs, test_count = thread.submit(read).result()
    assert evaluation.status == EvalStatus.SUCCEEDED and epochs == EPOCHS
    result = evaluation.result
    assert result["examples"] == test_count
    # Measured here after deduplication and two epochs: token F1 0.145 → 0.218.
    assert result["tuned"]["f1"] > result["base"]["f1"] + 0.03
    assert result["tuned"]["perplexity"] < result["base"]["perplexity"]
    assert result["tuned_quality"]["score"] > result["base_quality"]["score"]
