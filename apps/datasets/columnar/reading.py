"""Stage 1: pyarrow parses the file into blocks; and the threads that run the stages.

pyarrow reads a regular CSV several times faster than Python's csv module, but not every
file the way csv does: what it cannot promise to read the same raises ``Irregular``.
"""

from __future__ import annotations

import contextlib
import csv
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv


class Irregular(Exception):
    """The file needs the streaming path; the message says why (for the log)."""


def header_is_one_line(path: Path, encoding: str, delimiter: str) -> bool:
    """pyarrow skips the header as one line; a quoted header cell may hold a line break."""
    with open(path, encoding=encoding, newline="") as f:
        first_line = f.readline()
        f.seek(0)
        header = next(csv.reader(f, delimiter=delimiter), None)
    return header is not None and next(csv.reader([first_line], delimiter=delimiter)) == header


def open_reader(source, names: list[str], delimiter: str, block_bytes: int):
    """pyarrow's block reader over an open file, every cell a string, named ``names``.
    ``source`` is a Python file, not the path: given a path, pyarrow reads the rest of the
    file ahead into memory (577 MB of a 600 MB file after the first block)."""
    try:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=block_bytes, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,  # see Irregular: a blank line reads as all-empty
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, check_utf8=True
            ),
        )
    except pa.ArrowInvalid as exc:
        raise Irregular(str(exc)) from exc


def batches(reader) -> Iterator[pa.RecordBatch]:
    """The reader's non-empty blocks; a row pyarrow cannot parse (ragged, not UTF-8)
    becomes ``Irregular``."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise Irregular(str(exc)) from exc
        if batch.num_rows:
            yield batch


class Ahead:
    """``work`` over ``items`` on its own thread, at most ``depth`` results ahead of the
    caller, in order. An exception on the thread is raised to the caller in its place.
    Chained, these make the pipeline: each stage a block or two ahead of the next."""

    _END = object()

    def __init__(self, items: Iterable, work: Callable, depth: int):
        self.items, self.work = items, work
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dataset-stage", daemon=True)

    def _put(self, item) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.1)
                return

    def _run(self) -> None:
        try:
            for item in self.items:
                if self.stop.is_set():
                    return
                self._put(self.work(item))
        except BaseException as exc:  # handed to the caller, which raises it
            self._put(exc)
        else:
            self._put(self._END)

    def __enter__(self):
        self.thread.start()
        return self

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
