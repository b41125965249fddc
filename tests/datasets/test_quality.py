from hypothesis import given
from hypothesis import strategies as st

from apps.datasets.quality import _at_most_words, repair_text, score_row


def test_a_good_example_scores_100():
    q = score_row("How do I reset my password?", "Go to Settings > Security > Reset Password.")
    assert q.score == 100 and q.issues == []


def test_an_empty_side_scores_zero():
    assert score_row("", "answer").issues == ["missing"]
    assert score_row("question", "  ").score == 0


def test_placeholders_score_low_with_the_reason():
    q = score_row("???", "???")
    assert q.score <= 12 and "placeholder" in q.issues
    assert "placeholder text" in q.reasons


def test_duplicates_and_truncation_are_reasons():
    q = score_row("What is the refund policy?", "x" * 254 + "a", duplicate=True)
    assert set(q.issues) == {"duplicate", "truncated"}
    assert q.score == 100 - 50 - 30


def test_very_short_examples_are_flagged():
    assert "very_short" in score_row("hi", "hello").issues


def test_mojibake_is_repaired_and_clean_text_untouched():
    assert repair_text("cafÃ© crÃ¨me") == ("café crème", True)
    assert repair_text("plain text") == ("plain text", False)


@given(st.text(alphabet=st.sampled_from("ab \t\n\u00a0\u2003."), max_size=30), st.integers(0, 5))
def test_the_word_limit_check_counts_as_split_does(text, limit):
    assert _at_most_words(text, limit) == (len(text.split()) <= limit)
