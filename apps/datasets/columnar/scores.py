"""Stage 5, on the caller's thread, block after block: the first rows' languages, each
row's issues and score, and the report's counts.

The rules the caller's flags feed (duplicate, encoding, language: ``Rule.given``) join
the row-only ones ``checks`` applied, the same way; a row past ASCII is scored by
``quality.score_row`` itself, and gets its lines from orjson as the streaming path does.
"""

from __future__ import annotations

import orjson
import polars as pl

from .. import rules
from .. import thresholds as T
from ..analysis import Item, row_record
from ..quality import ISSUE_LABELS, ReportBuilder, detect_language, score_row
from .checks import BITS, block_features, issue_sums

# What the writer needs of a finished block.
FINISHED = [
    "i",
    "line",
    "user",
    "ascii",
    "row_line",
    "split_line",
    "score",
    "bits",
    "group",
    "missing",
]


class Scores:
    """Finishes blocks in row order into ``report`` (a ``quality.ReportBuilder``)."""

    def __init__(self, expected_language: str):
        self.expected_language = expected_language
        self.report = ReportBuilder()
        features = block_features()
        given_bits, given_penalty = issue_sums(
            {rule.name: rule.test(features) for rule in rules.RULES if rule.given}
        )
        missing = pl.col("missing")
        penalty = pl.col("base_penalty") + given_penalty
        # Built once: building polars expressions costs milliseconds, a block's work less.
        self.exprs = [
            pl.when(missing)
            .then(BITS["missing"])
            .otherwise(pl.col("base_bits") + given_bits)
            .cast(pl.UInt16)
            .alias("bits"),
            pl.when(missing)
            .then(0)
            .otherwise((T.FULL_SCORE - penalty).clip(0, T.FULL_SCORE))
            .cast(pl.UInt8)
            .alias("score"),
        ]

    def finish(self, df: pl.DataFrame) -> pl.DataFrame:
        """A numbered block's languages, scores and counts: called in order."""
        df = self._languages(df)
        df = self._past_ascii(df.with_columns(self.exprs))
        self._count(df)
        return df.select(FINISHED)

    def _languages(self, df: pl.DataFrame) -> pl.DataFrame:
        """The first rows' languages, in row order (the report counts them as they come)."""
        wanted = T.LANGUAGE_SAMPLE_ROWS - df["i"][0]
        if wanted <= 0:
            return df.with_columns(language=pl.lit(False))
        mismatch = [False] * len(df)
        head = df.head(wanted).select("user", "assistant", "missing", "ascii", "messages")
        for k, (user, assistant, missing, ascii_, messages) in enumerate(head.iter_rows()):
            if not missing if ascii_ else messages is not None:  # the row has messages
                language = detect_language(f"{user} {assistant}")
                if language:
                    self.report.languages[language] += 1
                mismatch[k] = language is not None and language != self.expected_language
        return df.with_columns(language=pl.Series(mismatch, dtype=pl.Boolean))

    def _past_ascii(self, df: pl.DataFrame) -> pl.DataFrame:
        """Scores and lines of the rows past ASCII, as the streaming path makes them; the
        other rows' rows.jsonl line is rendered on the writer's thread (``lines.row_line``)."""
        df = df.with_columns(row_line=pl.lit(None, dtype=pl.String))
        other = df.filter(~pl.col("ascii"))
        if not len(other):
            return df
        position = other["i"].to_numpy() - df["i"][0]
        columns = ("i", "line", "user", "assistant", "duplicate", "encoding", "language")
        scores, bits, row_lines, split_lines = [], [], [], []
        for (index, line, user, assistant, duplicate, encoding, language), messages, error in zip(
            other.select(columns).iter_rows(),
            other["messages"],
            other["error"],
            strict=True,
        ):
            quality = score_row(
                user, assistant, duplicate=duplicate, encoding=encoding, language=language
            )
            parsed = None if messages is None else orjson.loads(messages)
            row = row_record(index, Item(line, parsed, error=error), quality)
            trainable = "missing" not in quality.issues
            scores.append(quality.score)
            bits.append(sum(BITS[c] for c in quality.issues))
            row_lines.append(orjson.dumps(row).decode() + "\n")
            split_lines.append(
                orjson.dumps({"messages": parsed}).decode() + "\n" if trainable else None
            )
        updates = {"score": scores, "bits": bits, "row_line": row_lines, "split_line": split_lines}
        return df.with_columns(
            df[name].scatter(position, pl.Series(values, dtype=df[name].dtype))
            for name, values in updates.items()
        )

    def _count(self, df: pl.DataFrame) -> None:
        """The block's share of the report: ``ReportBuilder.add`` for a block at once."""
        usable = ~pl.col("missing")
        sums = df.select(
            *(((pl.col("bits") & BITS[code]) != 0).sum().alias(code) for code in ISSUE_LABELS),
            score_sum=pl.col("score").cast(pl.Int64).sum(),
            repaired=pl.col("repaired").sum(),
            usable=usable.sum(),
            input_chars=pl.col("u_len").filter(usable).cast(pl.Int64).sum(),
            output_chars=pl.col("a_len").filter(usable).cast(pl.Int64).sum(),
        ).row(0, named=True)
        r = self.report
        r.total += len(df)
        r.issue_counts.update({code: sums[code] for code in ISSUE_LABELS if sums[code]})
        r.score_sum += sums["score_sum"]
        r.repaired += sums["repaired"]
        r.usable += sums["usable"]
        r.input_chars += sums["input_chars"]
        r.output_chars += sums["output_chars"]
