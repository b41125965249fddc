"""The quality rules are defined once (apps/datasets/rules.py): the row-by-row and the
vectorised forms agree, and the rewrites of the old text checks are exact."""

import re
import sys

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.datasets import rules
from apps.datasets import thresholds as T
from apps.datasets.columnar.checks import Checks
from apps.datasets.columnar.scores import Scores
from apps.datasets.preview import ISSUE_BITS
from apps.datasets.quality import ISSUE_LABELS, score_row

# The definitions rules.py replaced, kept here as the reference.
OLD_SENTENCE_END = re.compile(r"[.!?…)\"'”’\]}:;*`>]\s*$|[\U0001F300-\U0001FAFF]\s*$")
OLD_ALNUM = re.compile(r"[^\W_]")


def old_is_placeholder(text):
    return text.strip().lower() in T.PLACEHOLDERS or OLD_ALNUM.search(text) is None


def test_the_issue_order_is_the_stored_one():
    # Saved rows.index.npy files hold issues as these bits: the order can never change.
    assert list(ISSUE_LABELS) == [
        "missing",
        "placeholder",
        "very_short",
        "duplicate",
        "truncated",
        "encoding",
        "language",
        "imbalance",
        "very_long",
        "malformed",
        "template",  # added later: after "malformed", so older versions' bits read the same
    ]
    assert set(T.PENALTY) == {rule.name for rule in rules.RULES}


def test_rstrip_drops_exactly_what_a_regex_space_matches():
    space = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        assert bool(space.match(c)) == (c.rstrip() == ""), hex(code)


def test_lower_case_never_makes_a_text_shorter():
    # is_placeholder lower-cases only texts no longer than the longest placeholder.
    assert all(len(chr(code).lower()) >= 1 for code in range(sys.maxunicode + 1))


ends = st.sampled_from(
    list(rules.SENTENCE_END_CHARS)
    + ["\U0001f2ff", "\U0001f300", "\U0001f680", "\U0001faff", "\U0001fb00", "a", "\n", "\r\n"]
    + [" ", "\t", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", "\u200b", "\ufeff"]
)
tails = st.lists(ends, max_size=6).map("".join)


@settings(max_examples=500)
@given(st.text(max_size=8), tails)
def test_the_sentence_end_is_the_old_regex(head, tail):
    text = head + tail
    assert rules.ends_sentence(text) == bool(OLD_SENTENCE_END.search(text))


placeholderish = st.one_of(
    st.sampled_from(sorted(T.PLACEHOLDERS)).map(str.upper),
    st.sampled_from(sorted(T.PLACEHOLDERS)),
    st.sampled_from(["NİL", "nİl", "İ", "TEST ", " n/a\n", "Ǹone", "ǸONE", "_", "¿?", "N/A."]),
    st.text(max_size=14),
)


@settings(max_examples=500)
@given(placeholderish, st.sampled_from(["", " ", "\u00a0", "\t\n"]))
def test_the_placeholder_check_is_the_old_one(text, pad):
    text = pad + text + pad
    assert rules.is_placeholder(text) == old_is_placeholder(text)


ascii_words = st.sampled_from(["a", "ok", "N/A", "???", "...", "it", "x" * 30, "end.", "-"])
ascii_texts = st.one_of(
    st.lists(ascii_words, min_size=1, max_size=5).map(" ".join),
    st.integers(1, 40).map(lambda n: "y" * n + "..."),
    st.sampled_from(T.TRUNCATION_LENGTHS[:4]).map(lambda n: "z" * (n - 1) + "."),
    st.sampled_from(T.TRUNCATION_LENGTHS[:4]).map(lambda n: "z" * n),
    st.integers(190, 2100).map(lambda n: "w" * n),
    st.just("v" * (T.VERY_LONG_CHARS + 1)),
    st.sampled_from(
        [
            "Hi {{name}}, thanks.",
            "{{ customer.first_name }}",
            "{{#each}}",
            "{{}}",
            "{ {x} }",
            "{{9}}",
        ]
    ),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"), max_size=30).map(
        lambda t: t.strip(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f") or "q"
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(ascii_texts, ascii_texts, st.booleans(), st.booleans(), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_the_vectorised_rules_are_the_row_rules(rows):
    """For stripped ASCII texts (what the columnar path applies them to), the columnar
    checks and scores give each row the issues and score score_row gives it."""
    df = pl.DataFrame(
        rows, schema=["user", "assistant", "duplicate", "encoding", "language"], orient="row"
    ).with_columns(ascii=pl.lit(True), missing=pl.lit(False), system=pl.lit(""))
    df = Checks({"output": "a"}).apply(df).with_columns(Scores("en").exprs)
    for (user, assistant, duplicate, encoding, language), bits, score in zip(
        rows, df["bits"], df["score"], strict=True
    ):
        quality = score_row(
            user, assistant, duplicate=duplicate, encoding=encoding, language=language
        )
        assert [code for code in ISSUE_LABELS if bits & ISSUE_BITS[code]] == quality.issues
        assert score == quality.score


@pytest.mark.parametrize(
    "text, found",
    [
        ("Dear {{name}}, your order shipped.", True),
        ("Thanks, {{ customer.first_name }}!", True),
        ("{{order_id}}", True),
        ("Use {{#each items}} in Handlebars.", False),  # template code, not a variable left
        ("A set: {a, b}; a dict {'k': {'v': 1}}.", False),
        ("{{}} and {{ 9 }}", False),
        ("{name} in a format string", False),
    ],
)
def test_an_unfilled_template_variable_is_found(text, found):
    assert rules.has_template_variable(text) is found
    quality = score_row("Where is my order?", text)
    assert ("template" in quality.issues) is found
