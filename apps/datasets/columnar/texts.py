"""Stage 2, on the preparing thread: a block's cells become each row's texts, as
``records.to_record`` and ``analysis.item_from_values`` make them on the streaming path.

A row whose mapped cells are all ASCII is mapped by column expressions (exact there:
ASCII's whitespace is a small fixed set, ``_WS``, and no ASCII text needs repairing); a
row with any other character goes through the streaming path's own functions.
"""

from __future__ import annotations

import functools
from string import Formatter

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from .. import records, rules
from ..analysis import item_from_values
from .reading import Irregular

# What Python's str.strip() and str.split() treat as whitespace, within ASCII.
WS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def template_parts(template: str) -> list[tuple[str, str | None]] | None:
    """(literal, field) pairs, or None where str.format_map would do more than fill names."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError:
        return None
    parts = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (
            not name or spec or conversion or "." in name or "[" in name or name.isdigit()
        ):
            return None
        parts.append((literal, name))
    return parts


class Texts:
    """Block after block, in order: each row's number, the physical line it starts on,
    its input, output and system texts, whether it is ASCII, missing, repaired or has an
    encoding problem, and (past ASCII) its messages or error as the streaming path has them.
    """

    def __init__(self, columns: list[str], mapping: dict):
        self.columns = columns
        self.col = {name: f"c{i}" for i, name in enumerate(columns)}
        self.mapping = mapping
        self.parts = template_parts(mapping.get("template") or "")
        self.used = sorted(  # the columns the mapping reads
            {self.col[n] for _, n in self.parts if n in self.col}
            | {self.col[mapping[k]] for k in ("output", "system") if mapping.get(k) in self.col}
        )
        self.rows = 0  # rows read so far
        self.line = 2  # the physical line the next row starts on
        self._variants: dict[tuple, list[pl.Expr]] = {}

    def read(self, batch: pa.RecordBatch) -> pl.DataFrame:
        df = pl.from_arrow(batch)
        n = len(df)
        scan = df.select(self._scan_exprs).row(0, named=True)
        if scan.pop("empty_row"):
            raise Irregular("an all-empty row: pyarrow reads blank lines as such")
        has_breaks = scan.pop("breaks")
        stripped = frozenset(c for c, any_edge in scan.items() if any_edge)
        texts = df.select(self._text_exprs(stripped, has_breaks))
        breaks = texts["breaks"].to_numpy() if has_breaks else np.zeros(n, dtype=np.int64)
        lines = self.line + np.concatenate(([0], np.cumsum(1 + breaks)[:-1]))
        self.line += int(n + breaks.sum())
        df = texts.drop("breaks").with_columns(
            i=pl.int_range(self.rows, self.rows + n, dtype=pl.Int64),
            line=pl.Series(lines, dtype=pl.Int64),
            missing=(pl.col("user") == "") | (pl.col("assistant") == ""),  # texts are stripped
            repaired=pl.lit(False),
            encoding=pl.lit(False),
        )
        self.rows += n
        return self._past_ascii(df)

    @functools.cached_property
    def _scan_exprs(self) -> list[pl.Expr]:
        """What decides how a block is read: an all-empty row, line breaks in cells, and
        which mapped columns have a cell to strip."""
        columns, edges = list(self.col.values()), list(WS)
        return [
            pl.all_horizontal(pl.col(c) == "" for c in columns).any().alias("empty_row"),
            pl.any_horizontal(pl.col(c).str.contains_any(["\n", "\r"]) for c in columns)
            .any()
            .alias("breaks"),
            *(
                (pl.col(c).str.head(1).is_in(edges) | pl.col(c).str.tail(1).is_in(edges))
                .any()
                .alias(c)
                for c in self.used
            ),
        ]

    def _text_exprs(self, stripped: frozenset[str], has_breaks: bool) -> list[pl.Expr]:
        key = (stripped, has_breaks)
        if key not in self._variants:  # a few variants per file at most
            self._variants[key] = self._build_text_exprs(stripped, has_breaks)
        return self._variants[key]

    def _build_text_exprs(self, stripped: frozenset[str], has_breaks: bool) -> list[pl.Expr]:
        # Built once per variant: building polars expressions costs milliseconds.
        columns = list(self.col.values())
        system = self.mapping.get("system")
        breaks = (
            pl.sum_horizontal(
                pl.col(c).str.count_matches("\n", literal=True)
                + pl.col(c).str.count_matches("\r", literal=True)
                - pl.col(c).str.count_matches("\r\n", literal=True)
                for c in columns
            )
            if has_breaks
            else pl.lit(0)
        )
        return [
            *(pl.col(c) for c in columns),
            pl.all_horizontal(
                pl.col(c).str.len_bytes() == pl.col(c).str.len_chars()
                for c in self.used or columns[:1]
            ).alias("ascii"),
            breaks.alias("breaks"),
            self._user(stripped).alias("user"),
            self._cell(self.mapping["output"], stripped).alias("assistant"),
            (self._cell(system, stripped) if system else pl.lit("")).alias("system"),
        ]

    def _cell(self, name: str | None, stripped: frozenset[str]) -> pl.Expr:
        if name not in self.col:
            return pl.lit("")
        column = self.col[name]
        if column in stripped:
            return pl.col(column).str.strip_chars(WS)
        return pl.col(column)  # no cell starts or ends with whitespace: no copy

    def _user(self, stripped: frozenset[str]) -> pl.Expr:
        """records.render_template as an expression."""
        fields = [n for _, n in self.parts if n is not None]
        template = self.mapping.get("template") or ""
        if len(fields) == 1 and template == "{" + fields[0] + "}":
            return self._cell(fields[0], stripped)
        pieces = []
        for literal, name in self.parts:
            if literal:
                pieces.append(pl.lit(literal))
            if name is not None:
                pieces.append(self._cell(name, stripped))
        if not pieces:
            return pl.lit("")
        joined = pl.concat_str(pieces) if len(pieces) > 1 else pieces[0]
        return joined.str.replace_all(r"\n{3,}", "\n\n").str.strip_chars(WS)

    def _past_ascii(self, df: pl.DataFrame) -> pl.DataFrame:
        """Rows with any character past ASCII, through the streaming path's functions."""
        other = df.filter(~pl.col("ascii"))
        df = df.with_columns(
            messages=pl.lit(None, dtype=pl.String), error=pl.lit(None, dtype=pl.String)
        )
        if not len(other):
            return df
        position = other["i"].to_numpy() - df["i"][0]
        names = list(self.col.values())
        users, assistants, missing, repaired, encoding, messages, errors = ([] for _ in range(7))
        for line, *values in other.select("line", *names).iter_rows():
            item = item_from_values(
                line, dict(zip(self.columns, values, strict=True)), self.mapping
            )
            found = item.messages or []
            user, assistant = records.input_text(found), records.output_text(found)
            users.append(user)
            assistants.append(assistant)
            missing.append(rules.is_missing(user, assistant))
            repaired.append(item.repaired)
            encoding.append(item.encoding)
            messages.append(None if item.messages is None else orjson.dumps(item.messages).decode())
            errors.append(item.error)
        updates = {
            "user": users,
            "assistant": assistants,
            "missing": missing,
            "repaired": repaired,
            "encoding": encoding,
            "messages": messages,
            "error": errors,
        }
        return df.with_columns(
            df[name].scatter(position, pl.Series(values, dtype=df[name].dtype))
            for name, values in updates.items()
        )
