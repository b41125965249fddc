"""Stage 6, on the writer's thread: rows.jsonl, its index and the split files.

The split is drawn as the streaming path draws it (``analysis._Splitter``): exactly, held
in memory, up to ``EXACT_SPLIT_UP_TO`` trainable rows; past that by a seeded hash of each
row's group, streamed.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import polars as pl

from .. import preview
from ..analysis import EXACT_SPLIT_UP_TO, choose_test_rows, group_sides


class Writer:
    """Renders each block's rows.jsonl lines (``row_line``: ``lines.row_line``), writes
    them and the split files, and keeps the row index, on a thread of its own in the order
    blocks are added: building lines, turning them into bytes and writing them let go of
    the GIL, so they overlap the next block's work."""

    def __init__(self, folder: Path, *, seed: int, test_fraction: float, row_line: pl.Expr):
        self.folder, self.seed, self.fraction = folder, seed, test_fraction
        self.row_line = row_line
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dataset-writer", daemon=True)
        self.index: list[np.ndarray] = []
        self.held: list[tuple[pl.DataFrame, np.ndarray]] = []
        self.held_trainable = 0
        self.streaming = False
        self.offset = 0
        self.split_bytes = {preview.TRAIN: 0, preview.TEST: 0}
        self.train = self.test = 0

    def __enter__(self):
        self.rows_file = open(self.folder / "rows.jsonl", "wb")  # noqa: SIM115
        self.split_files = {
            side: open(self.folder / name, "wb")  # noqa: SIM115
            for side, name in preview.SPLIT_FILES.items()
        }
        self.thread.start()
        return self

    def add(self, block: pl.DataFrame) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(block)

    def _run(self) -> None:
        while (block := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._write_block(block)
                except BaseException as exc:  # raised to the caller by add() or __exit__
                    self.error = exc

    def _write_block(self, block: pl.DataFrame) -> None:
        block = block.with_columns(self.row_line)
        table = np.zeros(len(block), dtype=preview.INDEX_DTYPE)
        lengths = block["row_line"].str.len_bytes().to_numpy().astype(np.uint64)
        table["offset"] = self.offset + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.offset += int(lengths.sum())
        table["score"] = block["score"].to_numpy()
        table["issues"] = block["bits"].to_numpy()
        write_lines(self.rows_file, block["row_line"])
        self.index.append(table)
        if self.streaming:
            self._write_split(block, table, None)
            return
        self.held.append((block, table))
        self.held_trainable += int((~block["missing"]).sum())
        if self.held_trainable > EXACT_SPLIT_UP_TO:
            self.streaming = True
            for held_block, held_table in self.held:
                self._write_split(held_block, held_table, None)
            self.held = []

    def _write_split(self, block: pl.DataFrame, table: np.ndarray, test: np.ndarray | None):
        trainable = ~block["missing"].to_numpy()
        if test is None:
            groups = block["group"].to_numpy()[trainable].astype(np.uint64)
            test = group_sides(groups, self.seed, self.fraction)
        side = np.where(test, preview.TEST, preview.TRAIN).astype(np.uint8)
        lines = block.filter(~pl.col("missing"))["split_line"]
        lengths = lines.str.len_bytes().to_numpy().astype(np.uint64)
        positions = np.flatnonzero(trainable)
        table["side"][positions] = side
        for value, name in ((preview.TRAIN, "train"), (preview.TEST, "test")):
            mine = side == value
            part = lengths[mine]
            table["split_offset"][positions[mine]] = self.split_bytes[value] + np.concatenate(
                ([0], np.cumsum(part)[:-1])
            ).astype(np.uint64)
            self.split_bytes[value] += int(part.sum())
            write_lines(self.split_files[value], lines.filter(pl.Series(mine)))
            setattr(self, name, getattr(self, name) + int(mine.sum()))

    def __exit__(self, *exc):
        self.queue.put(None)
        self.thread.join()
        try:
            if self.error is not None:
                raise self.error
            if exc[0] is None and not self.streaming:
                self._split_exactly()
        finally:
            self.rows_file.close()
            for f in self.split_files.values():
                f.close()
        if exc[0] is None:
            table = np.concatenate(self.index) if self.index else np.zeros(0, preview.INDEX_DTYPE)
            np.save(self.folder / "rows.index.npy", table)

    def _split_exactly(self) -> None:
        groups = [
            int(g)
            for block, _ in self.held
            for g in block.filter(~pl.col("missing"))["group"].to_list()
        ]
        chosen = choose_test_rows(
            list(enumerate(groups)), seed=self.seed, test_fraction=self.fraction
        )
        start = 0
        for block, table in self.held:
            count = int((~block["missing"]).sum())
            test = np.array([k in chosen for k in range(start, start + count)], dtype=bool)
            start += count
            self._write_split(block, table, test)


def write_lines(f, lines: pl.Series) -> None:
    """Writes the lines' bytes straight from their Arrow buffer, without a Python string."""
    if not len(lines):
        return
    array = lines.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one buffer
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    f.write(memoryview(data)[ends[0] : ends[-1]])
