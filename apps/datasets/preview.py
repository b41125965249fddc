"""Paging through a version's rows without reading them all.

Next to rows.jsonl, ``rows.index.npy`` holds one record per row: its byte offset,
score and issues as bits. Filtering and sorting happen on that array (milliseconds
for a million rows); only the rows of the page are read from disk.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .quality import ISSUE_LABELS

ISSUE_BITS = {code: 1 << bit for bit, code in enumerate(ISSUE_LABELS)}
_DTYPE = np.dtype([("offset", "<u8"), ("score", "u1"), ("issues", "<u2")])


class IndexWriter:
    def __init__(self):
        self.offsets = array("Q")
        self.scores = array("B")
        self.issues = array("H")

    def add(self, offset: int, score: int, issues: list[str]) -> None:
        self.offsets.append(offset)
        self.scores.append(score)
        bits = 0
        for code in issues:
            bits |= ISSUE_BITS[code]
        self.issues.append(bits)

    def save(self, folder: Path) -> None:
        table = np.zeros(len(self.offsets), dtype=_DTYPE)
        table["offset"] = np.frombuffer(self.offsets, dtype="<u8") if self.offsets else []
        table["score"] = np.frombuffer(self.scores, dtype="u1") if self.scores else []
        table["issues"] = np.frombuffer(self.issues, dtype="<u2") if self.issues else []
        np.save(folder / "rows.index.npy", table)


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
    rows = []
    with open(folder / "rows.jsonl", "rb") as f:
        for i in chosen:
            f.seek(int(table["offset"][i]))
            rows.append(json.loads(f.readline()))
    return Page(rows, page, pages, matching)
