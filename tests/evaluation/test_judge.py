"""The LLM judge through the real google-genai client against the local Gemini-shaped server."""

import pytest
from django.urls import reverse

from tests.fakes.gemini import FakeGemini
from workers.evaluation.judge import JudgeConfig, judge


def rating(score, feedback):
    return {
        "relevance": score,
        "coherence": score,
        "factuality": score,
        "completeness": score,
        "tone_match": score,
        "average": float(score),
        "feedback": feedback,
    }


ROWS = [
    {
        "index": i,
        "input": f"question {i}",
        "reference": f"answer {i}",
        "base": f"BASE-{i}",
        "tuned": f"TUNED-{i}",
    }
    for i in range(30)
]


@pytest.fixture
def fake():
    with FakeGemini() as server:
        server.answer = {"a": rating(5, "first is great"), "b": rating(2, "second is weak")}
        yield server


def config(fake, **kwargs):
    return JudgeConfig(**{"api_key": "test-key", "base_url": fake.url, "timeout_s": 2, **kwargs})


def test_scores_are_mapped_back_whatever_the_order(fake):
    result = judge(ROWS, config(fake))
    assert result.judged == 20 and result.failed == 0  # docs/PRODUCT.md 5.1's 20 random examples
    prompts = [r["body"]["contents"][0]["parts"][0]["text"] for r in fake.requests]
    tuned_first = ["Response A:\nTUNED-" in p for p in prompts]
    assert any(tuned_first) and not all(tuned_first)  # both orders were used
    # The server always gives A 5 and B 2: the tuned mean is 5 where it was A, else 2.
    expected = sum(5 if first else 2 for first in tuned_first) / len(prompts)
    assert result.tuned["average"] == pytest.approx(expected, abs=1e-3)
    assert result.base["average"] == pytest.approx(7 - expected, abs=1e-3)
    assert [f["tuned_first"] for f in result.feedback] == tuned_first
    assert all(r["key"] == "test-key" for r in fake.requests)


@pytest.mark.parametrize(
    "mode, reason", [("malformed", "not the JSON"), ("error", "Error"), ("slow", "")]
)
def test_a_judge_that_fails_says_why_and_judges_nothing(fake, mode, reason):
    fake.mode = mode
    result = judge(ROWS[:2], config(fake, timeout_s=1))
    assert result.judged == 0 and result.failed == 2
    assert result.reason.startswith("Gemini could not judge") and reason in result.reason


@pytest.mark.django_db
def test_an_evaluation_uses_the_judge_when_a_key_is_set(fake, settings, login, owner, trained_run):
    from apps.evaluations.services import queue_for_run
    from apps.evaluations.tasks import run_evaluation

    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = fake.url
    evaluation = queue_for_run(trained_run, owner)
    run_evaluation(str(evaluation.pk))
    evaluation.refresh_from_db()
    judged = evaluation.result["judge"]
    assert judged["judged"] == evaluation.result["examples"]  # fewer than 20 test examples
    assert "re-weighted" not in evaluation.result["tuned_quality"]["note"]
    page = login(owner).get(reverse("evaluation_detail", args=[evaluation.pk])).content.decode()
    assert "Gemini scored" in page and "★" in page


@pytest.mark.django_db
def test_without_a_key_the_page_says_the_judge_was_not_used(login, owner, finished):
    page = login(owner).get(reverse("evaluation_detail", args=[finished.pk])).content.decode()
    assert "Not used: No Gemini key is configured" in page
