"""Each per-row quality rule, defined once, for both paths that score rows.

A rule is a predicate over a row's features (``Features``): the two sides' lengths, a few
facts about each side's text, and the flags the caller knows (duplicate, encoding,
language). ``quality.score_row`` applies the table (``RULES``) to one row's Python values;
the columnar path (``columnar.checks``) applies the very same predicates to a block's
polars column expressions, which yields the vectorised form. That works because a
predicate uses only arithmetic, comparisons, ``&``, ``|`` and ``among``, which mean the
same on a Python value and on a column expression. Every number is in ``thresholds``.

What differs between the paths is how a text becomes its features: here with Python's
Unicode rules (``row_features``), there with column expressions exact for ASCII text (a
row with any other character goes through ``row_features`` there too).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from . import thresholds as T

_ALNUM = re.compile(r"[^\W_]")
# A text "ends as a sentence ends" when its last character that is not whitespace is one
# of these (a closing bracket or quote, code, a quoted reply's ">", an emoji…).
SENTENCE_END_CHARS = ".!?…)\"'”’]}:;*`>"
SENTENCE_END_EMOJI = ("\U0001f300", "\U0001faff")  # first and last code point of the range
ELLIPSES = ("...", "…")
# An unfilled template variable, "{{name}}" or "{{ customer.first_name }}": text generated from
# a template whose values never came. ASCII classes only, so Python's re and polars' regex
# read it alike.
TEMPLATE_VARIABLE = r"\{\{ *[A-Za-z_][A-Za-z0-9_.]* *\}\}"
_TEMPLATE_VARIABLE = re.compile(TEMPLATE_VARIABLE)


# -- What a text is, with Python's rules (the columnar path's ASCII forms: columnar.checks)


def is_missing(user: str, assistant: str) -> bool:
    """An empty input or output: the row scores 0 with the one issue "missing"."""
    return not user.strip() or not assistant.strip()


_LONGEST_PLACEHOLDER = max(map(len, T.PLACEHOLDERS))


def is_placeholder(text: str) -> bool:
    """Listed filler ("n/a", "???", "todo"…) or no letter or digit at all."""
    stripped = text.strip()
    # lower() never makes a text shorter, so only a short one can be listed: no copy of
    # a long one.
    listed = len(stripped) <= _LONGEST_PLACEHOLDER and stripped.lower() in T.PLACEHOLDERS
    return listed or _ALNUM.search(text) is None


def has_template_variable(text: str) -> bool:
    return "{{" in text and _TEMPLATE_VARIABLE.search(text) is not None


def template_variables(text: str) -> list[str]:
    """The names of the unfilled template variables in ``text``, e.g. ["name", "order.id"]."""
    return [m.group(0)[2:-2].strip() for m in _TEMPLATE_VARIABLE.finditer(text)]


def fill_template_variables(text: str, values: dict[str, str]) -> str:
    """``text`` with each variable named in ``values`` replaced by its value (others stay)."""
    if "{{" not in text:
        return text
    return _TEMPLATE_VARIABLE.sub(lambda m: values.get(m.group(0)[2:-2].strip(), m.group(0)), text)


def at_most_words(text: str, limit: int) -> bool:
    # maxsplit stops after ``limit`` splits instead of listing every word of a long text.
    return len(text.split(None, limit)) <= limit


def ends_sentence(text: str) -> bool:
    """The last non-whitespace character is in ``SENTENCE_END_CHARS`` or the emoji range.
    (rstrip() drops exactly what a regex's ``\\s`` matches: tests/datasets/test_rules.py.)"""
    last = text.rstrip()[-1:]
    return bool(last) and (
        last in SENTENCE_END_CHARS or SENTENCE_END_EMOJI[0] <= last <= SENTENCE_END_EMOJI[1]
    )


# -- A row's features and the rules over them


@dataclass(slots=True)
class Features:
    """A row's features: Python values for one row, or column expressions for a block."""

    len_in: Any  # characters of the input
    len_out: Any  # characters of the output
    placeholder_in: Any  # is_placeholder(input)
    placeholder_out: Any
    few_words_in: Any  # at most T.VERY_SHORT_WORDS words
    few_words_out: Any
    ellipsis_out: Any  # the output ends in "..." or "…"
    open_end_out: Any  # the output does not end as a sentence ends
    template_in: Any  # has_template_variable(input)
    template_out: Any
    duplicate: Any = False  # given: an earlier row holds the same example
    encoding: Any = False  # given: characters that could not be decoded
    language: Any = False  # given: not in the expected language


def row_features(
    user: str, assistant: str, duplicate=False, encoding=False, language=False
) -> Features:
    """One row's features as Python values."""
    return Features(
        len(user),
        len(assistant),
        is_placeholder(user),
        is_placeholder(assistant),
        at_most_words(user, T.VERY_SHORT_WORDS),
        at_most_words(assistant, T.VERY_SHORT_WORDS),
        assistant.endswith(ELLIPSES),
        not ends_sentence(assistant),
        has_template_variable(user),
        has_template_variable(assistant),
        duplicate,
        encoding,
        language,
    )


def among(value, choices) -> Any:
    """``value in choices`` for a number; ``is_in`` for a column expression."""
    if isinstance(value, int):
        return value in choices
    return value.is_in(list(choices))


@dataclass(frozen=True)
class Rule:
    name: str  # the issue's code in rows.jsonl and the report
    label: str  # what the preview says
    test: Callable[[Features], Any]
    unless: str | None = None  # an earlier rule that, when it holds, is reported instead
    given: bool = False  # the caller knows it (score_row's keyword of the same name)


def _truncated(f: Features):
    """Trailing off past a few words, or cut at a field or buffer limit."""
    trailing_off = f.ellipsis_out & (f.len_out > T.TRUNCATED_ELLIPSIS_MIN_CHARS)
    at_a_limit = among(f.len_out, T.TRUNCATION_LENGTHS) & f.open_end_out
    return trailing_off | at_a_limit


def _imbalance(f: Features):
    """One side many times the other, once it is long enough for that to mean something."""
    ratio = (f.len_in + 1) / (f.len_out + 1)
    lopsided = (ratio > T.IMBALANCE_RATIO) | (ratio < 1 / T.IMBALANCE_RATIO)
    long_enough = (f.len_in > T.IMBALANCE_MIN_CHARS) | (f.len_out > T.IMBALANCE_MIN_CHARS)
    return lopsided & long_enough


def _very_long(f: Features):
    """Either side past VERY_LONG_CHARS."""
    return (f.len_in > T.VERY_LONG_CHARS) | (f.len_out > T.VERY_LONG_CHARS)


# In the order issues are listed (a row's issues, the index's bits: preview.ISSUE_BITS).
RULES: tuple[Rule, ...] = (
    Rule("placeholder", "placeholder text", lambda f: f.placeholder_in | f.placeholder_out),
    Rule(
        "very_short",
        "very short",
        lambda f: f.few_words_in & f.few_words_out,
        unless="placeholder",
    ),
    Rule("duplicate", "duplicate of an earlier example", attrgetter("duplicate"), given=True),
    Rule("truncated", "looks cut off", _truncated),
    Rule("encoding", "text encoding problem", attrgetter("encoding"), given=True),
    Rule("language", "not in the expected language", attrgetter("language"), given=True),
    Rule("imbalance", "input/output length imbalance", _imbalance),
    Rule("very_long", "very long", _very_long),
    Rule(
        "template",
        "unfilled template variable",
        lambda f: f.template_in | f.template_out,
        unless="placeholder",
    ),
)

# Each issue's bit in the versions' index files is its place here, so an issue added later
# takes the next place, after "malformed", and what older versions stored reads the same.
ADDED_LATER = ("template",)
ISSUE_LABELS = {
    "missing": "empty input or output",
    **{rule.name: rule.label for rule in RULES if rule.name not in ADDED_LATER},
    "malformed": "could not be read",
    **{rule.name: rule.label for rule in RULES if rule.name in ADDED_LATER},
}


_ROW_RULES = tuple((rule.name, rule.test, rule.unless) for rule in RULES)  # fewer lookups


def issues(f: Features) -> list[str]:
    """The rules that hold for one row, in ``RULES`` order."""
    found: list[str] = []
    for name, test, unless in _ROW_RULES:
        if test(f) and (unless is None or unless not in found):
            found.append(name)
    return found
