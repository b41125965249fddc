"""Reading a version's rows back: a page of them, or all of them in order.

Next to rows.jsonl, ``rows.index.npy`` holds one record per row: its byte offset,
score and issues as bits, and where its example was written (``side``: 0 nowhere,
1 train.jsonl, 2 test.jsonl, at ``split_offset``). Filtering and sorting happen on that
array (milliseconds for a million rows); only the rows of the page are read from disk.

A row whose example went to train or test does not repeat its messages in rows.jsonl:
they are read back from the split file, which halves what a version writes. Rows with
no example in a split (an empty input or output) and rows of versions written before the
index had sides carry their messages inline.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from .quality import ISSUE_LABELS

ISSUE_BITS = {code: 1 << bit for bit, code in enumerate(ISSUE_LABELS)}
INDEX_DTYPE = np.dtype(
    [
        ("offset", "<u8"),
        ("score", "u1"),
        ("issues", "<u2"),
        ("side", "u1"),
        ("split_offset", "<u8"),
    ]
)
TRAIN, TEST = 1, 2
SPLIT_FILES = {TRAIN: "train.jsonl", TEST: "test.jsonl"}


class IndexWriter:
    def __init__(self):
        self.offsets = array("Q")
        self.scores = array("B")
        self.issues = array("H")
        self.sides = array("B")
        self.split_offsets = array("Q")

    def add(self, offset: int, score: int, issues: list[str]) -> int:
        """Index one row; returns its number for ``place``."""
        self.offsets.append(offset)
        self.scores.append(score)
        bits = 0
        for code in issues:
            bits |= ISSUE_BITS[code]
        self.issues.append(bits)
        self.sides.append(0)
        self.split_offsets.append(0)
        return len(self.offsets) - 1

    def place(self, row: int, side: int, offset: int) -> None:
        """Row ``row``'s example was written to ``side``'s file at byte ``offset``."""
        self.sides[row] = side
        self.split_offsets[row] = offset

    def save(self, folder: Path) -> None:
        table = np.zeros(len(self.offsets), dtype=INDEX_DTYPE)
        for name, values, dtype in (
            ("offset", self.offsets, "<u8"),
            ("score", self.scores, "u1"),
            ("issues", self.issues, "<u2"),
            ("side", self.sides, "u1"),
            ("split_offset", self.split_offsets, "<u8"),
        ):
            if values:
                table[name] = np.frombuffer(values, dtype=dtype)
        np.save(folder / "rows.index.npy", table)


def _sides(table) -> np.ndarray:
    if "side" in (table.dtype.names or ()):
        return table["side"]
    return np.zeros(len(table), dtype="u1")  # an index from before rows pointed into the split


def iter_rows(folder: Path) -> Iterator[dict]:
    """Every row of the version, in order, each with its messages where it has any."""
    table = np.load(folder / "rows.index.npy", mmap_mode="r")
    sides = _sides(table)
    with ExitStack() as stack:
        rows = stack.enter_context(open(folder / "rows.jsonl", "rb"))
        splits = {
            side: stack.enter_context(open(folder / name, "rb"))
            for side, name in SPLIT_FILES.items()
        }
        # Each split file holds its examples in row order, so one forward read of each
        # follows rows.jsonl without seeking.
        for line, side in zip(rows, sides, strict=True):
            row = orjson.loads(line)
            if side and "messages" not in row:
                row["messages"] = orjson.loads(splits[int(side)].readline())["messages"]
            yield row


@dataclass
class Page:
    rows: list[dict]
    number: int
    pages: int
    matching: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


SORTS = {"row": "file order", "score": "lowest score first", "-score": "highest score first"}


def page_rows(
    folder: Path, *, page: int = 1, per_page: int = 25, issue: str | None = None, sort: str = "row"
) -> Page:
    table = np.load(folder / "rows.index.npy", mmap_mode="r")
    selected = np.arange(len(table))
    if issue in ISSUE_BITS:
        selected = selected[(table["issues"] & ISSUE_BITS[issue]) != 0]
    elif issue == "clean":
        selected = selected[table["issues"] == 0]
    if sort == "score":
        selected = selected[np.argsort(table["score"][selected], kind="stable")]
    elif sort == "-score":
        selected = selected[np.argsort(-table["score"][selected].astype(int), kind="stable")]
    matching = len(selected)
    pages = max(1, -(-matching // per_page))
    page = min(max(1, page), pages)
    chosen = selected[(page - 1) * per_page : page * per_page]
    sides = _sides(table)
    rows = []
    with ExitStack() as stack:
        f = stack.enter_context(open(folder / "rows.jsonl", "rb"))
        splits = {}
        for i in chosen:
            f.seek(int(table["offset"][i]))
            row = orjson.loads(f.readline())
            side = int(sides[i])
            if side and "messages" not in row:
                if side not in splits:
                    splits[side] = stack.enter_context(open(folder / SPLIT_FILES[side], "rb"))
                splits[side].seek(int(table["split_offset"][i]))
                row["messages"] = orjson.loads(splits[side].readline())["messages"]
            rows.append(row)
    return Page(rows, page, pages, matching)
