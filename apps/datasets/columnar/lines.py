"""The JSON lines the version's files hold, as column expressions that write the bytes
orjson writes on the streaming path (``analysis.row_record``, ``analysis._Splitter``).

polars' JSON encoder escapes a string as orjson does (tested), so only the texts go
through it; the rest of each line is literal. Rows past ASCII get their lines from orjson
itself (``scores``), and these expressions leave them be.
"""

from __future__ import annotations

import orjson
import polars as pl

from .. import preview
from ..quality import ISSUE_LABELS


def content(text: pl.Expr) -> pl.Expr:
    """ "content":"..."} as orjson writes it: the encoder's {"content":...} less its
    opening brace. Only the text goes through the encoder; a literal role field would be
    a column of n strings to encode."""
    return pl.struct(content=text).struct.json_encode().str.slice(1)


def split_line(mapping: dict) -> pl.Expr:
    """{"messages":[...]} for train.jsonl or test.jsonl, for a trainable ASCII row."""
    user, assistant = pl.col("user"), pl.col("assistant")
    head = pl.lit('{"messages":[{"role":"user",')
    if mapping.get("system"):
        with_system = pl.concat_str(
            pl.lit('{"messages":[{"role":"system",'),
            content(pl.col("system")),
            pl.lit(',{"role":"user",'),
        )
        head = pl.when(pl.col("system") == "").then(head).otherwise(with_system)
    line = pl.concat_str(
        head,
        content(user),
        pl.lit(',{"role":"assistant",'),
        content(assistant),
        pl.lit("]}\n"),
    )
    return pl.when(pl.col("ascii") & ~pl.col("missing")).then(line).alias("split_line")


def row_line() -> pl.Expr:
    """The row's rows.jsonl line, from its number, line, score and issue bits; rendered on
    the writer's thread. Rows past ASCII keep the line ``scores`` gave them."""
    bits = preview.ISSUE_BITS
    # Every combination of issues, as orjson writes the list (one byte of bits each).
    issues_json = {
        combination: orjson.dumps([c for c in ISSUE_LABELS if combination & bits[c]]).decode()
        for combination in range(1 << len(ISSUE_LABELS))
    }
    error = (
        pl.when(pl.col("missing"))
        .then(
            pl.when(pl.col("user") == "")
            .then(pl.lit(',"error":"the input is empty"'))
            .otherwise(pl.lit(',"error":"the output is empty"'))
        )
        .otherwise(pl.lit(""))
    )
    line = pl.concat_str(
        pl.lit('{"i":'),
        pl.col("i").cast(pl.String),
        pl.lit(',"line":'),
        pl.col("line").cast(pl.String),
        pl.lit(',"score":'),
        pl.col("score").cast(pl.String),
        pl.lit(',"issues":'),
        pl.col("bits").replace_strict(issues_json, return_dtype=pl.String),
        error,
        pl.lit("}\n"),
    )
    return pl.when(pl.col("ascii")).then(line).otherwise(pl.col("row_line")).alias("row_line")
