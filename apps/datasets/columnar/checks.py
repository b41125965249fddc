"""Stage 3, on the preparing thread: the rules that need no other row, over a whole block.

The rules are ``rules.RULES``, the very predicates ``quality.score_row`` applies to one
row, here applied to ``block_features()``: the same features as column expressions. This
module says only how an ASCII text becomes its features; a row with any other character
is scored again by ``quality.score_row`` (``scores``), which replaces what is made here.
"""

from __future__ import annotations

import functools
import operator

import polars as pl

from .. import preview, rules
from .. import thresholds as T
from .lines import split_line

BITS = preview.ISSUE_BITS

# ASCII's whitespace as regex classes (texts.WS); "more than a few words" is
# VERY_SHORT_WORDS words, each followed by whitespace, then one more character.
_NOT_WS = r"[^ \t\n\r\x0b\x0c\x1c-\x1f]"
_WS_CLASS = r"[ \t\n\r\x0b\x0c\x1c-\x1f]"
_MORE_WORDS = "^" + f"{_NOT_WS}+{_WS_CLASS}+" * T.VERY_SHORT_WORDS + _NOT_WS
# The texts are stripped, so a text's last character is its last non-whitespace one.
_SENTENCE_END_ASCII = [c for c in rules.SENTENCE_END_CHARS if c.isascii()]
_ELLIPSES_ASCII = [e for e in rules.ELLIPSES if e.isascii()]
_LONGEST_PLACEHOLDER = max(len(p) for p in T.PLACEHOLDERS)


def _placeholder(text: pl.Expr) -> pl.Expr:
    """rules.is_placeholder for a stripped ASCII text."""
    # Only a short text can be in the list: lower-case only those ("#" is not listed).
    short = pl.when(text.str.len_bytes() <= _LONGEST_PLACEHOLDER).then(text).otherwise(pl.lit("#"))
    listed = short.str.to_lowercase().is_in(sorted(T.PLACEHOLDERS))
    return listed | ~text.str.contains("[A-Za-z0-9]")


def _few_words(text: pl.Expr) -> pl.Expr:
    """rules.at_most_words(text, T.VERY_SHORT_WORDS) for a stripped ASCII text."""
    return ~text.str.contains(_MORE_WORDS)


def block_features() -> rules.Features:
    """A block's features as column expressions (the lengths are columns of their own)."""
    user, assistant = pl.col("user"), pl.col("assistant")
    return rules.Features(
        len_in=pl.col("u_len"),
        len_out=pl.col("a_len"),
        placeholder_in=_placeholder(user),
        placeholder_out=_placeholder(assistant),
        few_words_in=_few_words(user),
        few_words_out=_few_words(assistant),
        ellipsis_out=functools.reduce(
            operator.or_, (assistant.str.ends_with(e) for e in _ELLIPSES_ASCII)
        ),
        open_end_out=~assistant.str.slice(-1).is_in(_SENTENCE_END_ASCII),
        template_in=user.str.contains(rules.TEMPLATE_VARIABLE),
        template_out=assistant.str.contains(rules.TEMPLATE_VARIABLE),
        duplicate=pl.col("duplicate"),
        encoding=pl.col("encoding"),
        language=pl.col("language"),
    )


def issue_sums(holds: dict[str, pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """The issue bits and the penalty of the rules in ``holds`` (name: whether it holds)."""
    bits = pl.sum_horizontal(flag.cast(pl.Int32) * BITS[code] for code, flag in holds.items())
    penalty = pl.sum_horizontal(
        flag.cast(pl.Int32) * T.PENALTY[code] for code, flag in holds.items()
    )
    return bits, penalty


class Checks:
    """Adds to a block: the texts' lengths, each row-only rule's flag (``f_<name>``), the
    issue bits and penalty of those rules (``base_bits``, ``base_penalty``; the given
    ones follow in ``scores``), the example's key for ``groups`` and its split line."""

    def __init__(self, mapping: dict):
        self.mapping = mapping

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        lengths, flags, rest = self._exprs
        return df.with_columns(lengths).with_columns(flags).with_columns(rest)

    @functools.cached_property
    def _exprs(self) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        # Built once: building polars expressions costs milliseconds, a block's work less.
        user, assistant = pl.col("user"), pl.col("assistant")
        features = block_features()
        row_rules = [rule for rule in rules.RULES if not rule.given]

        def reported(rule: rules.Rule) -> pl.Expr:
            flag = pl.col(f"f_{rule.name}")
            return flag & ~pl.col(f"f_{rule.unless}") if rule.unless else flag

        base_bits, base_penalty = issue_sums({rule.name: reported(rule) for rule in row_rules})
        return (
            [user.str.len_chars().alias("u_len"), assistant.str.len_chars().alias("a_len")],
            [rule.test(features).alias(f"f_{rule.name}") for rule in row_rules],
            [
                pl.struct(user.hash(11), assistant.hash(23)).hash(7).alias("key"),
                base_bits.alias("base_bits"),
                base_penalty.alias("base_penalty"),
                split_line(self.mapping),
            ],
        )
