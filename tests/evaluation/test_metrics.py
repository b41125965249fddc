"""Each metric against values worked out by hand."""

import pytest

from workers.evaluation.metrics import (
    Scores,
    bleu,
    classification,
    exact_match,
    length_alert,
    length_appropriateness,
    length_ratio,
    looks_like_classification,
    normalise,
    repetition_rate,
    rouge_l,
    score_outputs,
    token_prf,
)
from workers.evaluation.quality import quality


def test_normalise_drops_case_punctuation_articles_and_spacing():
    assert normalise("  The Refund, please!  ") == "refund please"
    assert normalise("An apple…") == "apple"


def test_exact_match_counts_normalised_equality():
    assert exact_match(["The refund.", "no", "Yes"], ["refund", "yes", "yes"]) == pytest.approx(
        2 / 3
    )
    assert exact_match([], []) == 0.0


def test_token_precision_recall_f1():
    # prediction: open billing page now (4 words); reference: open the billing settings (3 after "the")
    # common: open, billing = 2 → P = 2/4, R = 2/3, F1 = 2·(1/2·2/3)/(1/2+2/3) = 4/7
    p, r, f1 = token_prf("open billing page now", "open the billing settings")
    assert (p, r, f1) == pytest.approx((0.5, 2 / 3, 4 / 7))
    assert token_prf("", "") == (1.0, 1.0, 1.0)
    assert token_prf("", "something") == (0.0, 0.0, 0.0)
    assert token_prf("cats", "dogs") == (0.0, 0.0, 0.0)
    # repeats count once per occurrence on each side: "no no no" vs "no" → P 1/3, R 1
    assert token_prf("no no no", "no")[:2] == pytest.approx((1 / 3, 1.0))


def test_bleu_is_100_for_identical_and_0_without_overlap():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["xyz qrs"], ["the cat sat on the mat"]) == pytest.approx(0.0)


def test_rouge_l_is_the_lcs_f_measure():
    # reference a b c d, prediction a c d e: LCS = a c d = 3 → P = R = 3/4 → F = 0.75
    assert rouge_l(["a c d e"], ["a b c d"]) == pytest.approx(0.75)


def test_length_ratio_appropriateness_and_alerts():
    assert length_ratio("one two three four", "one two") == 2.0
    assert length_appropriateness(1.0) == 1.0 and length_appropriateness(0.9) == 1.0
    assert length_appropriateness(1.3) == pytest.approx(0.6)  # 0.2 beyond 1.1 of a 0.5 fall-off
    assert length_appropriateness(2.0) == 0.0
    assert "too verbose" in length_alert(1.4) and "too short" in length_alert(0.5)
    assert length_alert(1.0) == ""


def test_repetition_rate_counts_repeated_trigrams():
    # x y z x y z: trigrams xyz yzx zxy xyz → 3 distinct of 4 → 0.25
    assert repetition_rate("x y z x y z") == pytest.approx(0.25)
    assert repetition_rate("short") == 0.0


def test_classification_is_detected_and_scored_macro():
    references = ["positive", "negative", "positive", "negative", "positive", "neutral"]
    predictions = ["positive", "positive", "positive", "negative", "negative", "neutral"]
    assert looks_like_classification(references)
    assert not looks_like_classification(["a long free text answer here", "another one entirely"])
    result = classification(predictions, references)
    # positive: tp 2, fp 1, fn 1 → P 2/3 R 2/3; negative: tp 1 fp 1 fn 1 → 1/2, 1/2; neutral: 1, 1
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["precision"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert result["recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_quality_score_weights_and_gates():
    scores = score_outputs(["open billing page now"], ["open the billing settings"])
    assert isinstance(scores, Scores) and scores.empty_outputs == 0
    # F1 4/7, length ratio 4/3 → appropriateness 1 - (4/3 - 1.1)/0.5 = 0.5333
    with_judge = quality(scores, judge_average=4.0)
    expected = 100 * (0.4 * 4 / 7 + 0.4 * 0.8 + 0.2 * (1 - (4 / 3 - 1.1) / 0.5))
    assert with_judge.score == pytest.approx(expected, abs=0.05)
    without = quality(scores)
    assert without.score == pytest.approx(
        100 * (4 / 7 * 2 / 3 + (1 - (4 / 3 - 1.1) / 0.5) / 3), abs=0.05
    )
    assert "re-weighted" in without.note and "token F1" in without.note
    assert without.gate == "review"  # 55.9: between 50 and 70
    perfect = quality(score_outputs(["open billing"], ["open billing"]))
    assert perfect.score == 100.0 and perfect.gate == "ready"
    assert quality(score_outputs(["zzz"], ["open billing"])).gate == "retrain"
