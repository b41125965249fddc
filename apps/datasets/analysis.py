"""One pass from a file (or a parent version) to a dataset version's files and report.

Outputs, in the version's folder:
  rows.jsonl      every row: its line, score and issues (what the preview pages); its
                  messages only when its example is in neither split
  rows.index.npy  per row: offset in rows.jsonl, score, issue bits, and which split file
                  holds its example at which offset (see ``preview``)
  train.jsonl     {"messages": [...]} for the training split
  test.jsonl      the same for the test split

1. ``read_upload`` sniffs the file, reads the first rows and proposes a mapping.
2. ``build_version`` streams items (rows turned into messages) through scoring and
   duplicate detection, writes rows.jsonl, then splits by example so identical
   examples never sit on both sides, and writes train/test.
3. ``items_from_version`` reads a parent version's rows back, without some, for a new version.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from . import detection, preview, records, rules
from . import thresholds as T
from .formats import Malformed, Row, Sniffed, iter_rows, sniff
from .quality import ReportBuilder, detect_language, repair_text, score_row, warm_language_model

DETECT_ROWS = 100
EXACT_SPLIT_UP_TO = 2000  # examples up to which the split is drawn exactly, held in memory

Progress = Callable[[float, str], None]


def no_progress(fraction: float, stage: str) -> None:
    pass


@dataclass
class Item:
    line: int
    messages: list[dict] | None = None
    error: str | None = None
    malformed: bool = False
    encoding: bool = False
    repaired: bool = False


@dataclass
class Upload:
    sniffed: Sniffed
    columns: list[str]
    proposal: detection.Proposal
    rows: Iterator[Row | Malformed]
    size: int
    first: list[Row | Malformed] = field(default_factory=list)
    path: Path | None = None


def read_upload(path: Path, claimed_name: str = "") -> Upload:
    """Sniff the file and propose a mapping from its first rows; the rest stays unread."""
    sniffed = sniff(path, claimed_name)
    rows = iter_rows(path, sniffed)
    first = list(itertools.islice(rows, DETECT_ROWS))
    good = [r for r in first if isinstance(r, Row)]
    if not good:
        if not first:
            from .formats import DatasetFormatError

            raise DatasetFormatError("The file has a header or wrapper but no examples.", "no_rows")
    columns: list[str] = []
    for row in good:
        for key in row.values:
            # A name holding a NUL (JSON's \u0000) is no column: PostgreSQL refuses it in the
            # version's columns and mapping, and no one could mean to map it.
            if key not in columns and "\x00" not in key:
                columns.append(key)
    proposal = detection.propose(columns, [r.values for r in good])
    return Upload(
        sniffed,
        columns,
        proposal,
        itertools.chain(first, rows),
        os.path.getsize(path),
        first,
        Path(path),
    )


def unreadable_start(upload: Upload) -> str | None:
    """Why no mapping could be proposed when not one of the first rows could be read (the
    first one's reason: a file of broken or too deeply nested rows has no column to map);
    None when some could be read."""
    if not upload.first or any(isinstance(r, Row) for r in upload.first):
        return None
    bad = upload.first[0]
    where = "the first rows" if len(upload.first) == DETECT_ROWS else "the file"
    return f"No row of {where} could be read (line {bad.line}: {bad.error})."


def _clean(text: str) -> tuple[str, bool, bool]:
    fixed, repaired = repair_text(text)
    return fixed, repaired, "\ufffd" in fixed


def item_from_values(line: int, values: dict, mapping: dict) -> Item:
    """One read row as messages with their text repaired, or the reason it gives none."""
    try:
        messages = records.to_record(values, mapping)
    except records.RecordError as exc:
        return Item(line, error=str(exc))
    repaired_any = encoding_any = False
    for message in messages:
        message["content"], repaired, broken = _clean(message["content"])
        repaired_any |= repaired
        encoding_any |= broken
    return Item(line, messages, repaired=repaired_any, encoding=encoding_any)


def items_from_upload(upload: Upload, mapping: dict) -> Iterator[Item]:
    for row in upload.rows:
        if isinstance(row, Malformed):
            yield Item(row.line, error=row.error, malformed=True)
        else:
            yield item_from_values(row.line, row.values, mapping)


def row_record(index: int, item: Item, quality) -> dict:
    """A row as rows.jsonl keeps it: messages only for a row in no split file (the
    preview reads the others' from their split file)."""
    row = {"i": index, "line": item.line, "score": quality.score, "issues": quality.issues}
    if item.messages is not None and "missing" in quality.issues:
        row["messages"] = item.messages
    if item.error:
        row["error"] = item.error
    return row


def _key(user: str, assistant: str) -> bytes:
    return hashlib.blake2b(f"{user}\x00{assistant}".encode(), digest_size=12).digest()


def build_version(
    items: Iterable[Item],
    out_dir: Path,
    *,
    expected_language: str = "en",
    seed: int = T.DEFAULT_SEED,
    test_fraction: float = T.DEFAULT_TEST_FRACTION,
    notices: list[str] | None = None,
    progress: Progress = no_progress,
    position: Callable[[], float] = lambda: 0.0,
) -> dict:
    """One pass: score each row, write it to rows.jsonl and its example to train or test."""
    out_dir.mkdir(parents=True, exist_ok=True)
    warm_language_model()  # loads while the first rows are read; detection waits for it
    report = ReportBuilder()
    groups: dict[bytes, int] = {}  # each distinct trainable example -> its group number
    index_file = preview.IndexWriter()
    split = _Splitter(out_dir, seed=seed, test_fraction=test_fraction, placed=index_file.place)
    with open(out_dir / "rows.jsonl", "wb") as out, split:

        def emit(row: dict) -> int:
            number = index_file.add(out.tell(), row["score"], row["issues"])
            out.write(orjson.dumps(row) + b"\n")
            return number

        for index, item in enumerate(items):
            if item.malformed:
                report.add_malformed(item.line, item.error or "")
                emit(
                    {
                        "i": index,
                        "line": item.line,
                        "score": 0,
                        "issues": ["malformed"],
                        "error": item.error,
                    }
                )
                continue
            messages = item.messages or []
            user, assistant = records.input_text(messages), records.output_text(messages)
            key = _key(user, assistant)
            duplicate = key in groups
            language = None
            mismatch = False
            if index < T.LANGUAGE_SAMPLE_ROWS and messages:
                language = detect_language(f"{user} {assistant}")
                mismatch = language is not None and language != expected_language
            quality = score_row(
                user, assistant, duplicate=duplicate, encoding=item.encoding, language=mismatch
            )
            report.add(user, assistant, quality, repaired=item.repaired, language=language)
            number = emit(row_record(index, item, quality))
            if "missing" not in quality.issues:
                split.add(groups.setdefault(key, len(groups)), messages, number)
            if index % 5000 == 0:
                progress(0.95 * position(), "Analysing rows")
    index_file.save(out_dir)
    progress(1.0, "Done")
    return report.finish(
        expected_language=expected_language,
        train=split.train,
        test=split.test,
        notices=notices or [],
    )


class _Splitter:
    """Writes each trainable example to train.jsonl or test.jsonl as it comes.

    Examples come with their group: identical examples share one, numbered in the order
    they first appear. Small datasets are held back and split exactly
    (``choose_test_rows``); past ``EXACT_UP_TO`` examples the side is a seeded hash of the
    group number (``group_sides``), so the split streams in constant memory and identical
    examples always share a side. Numbers rather than a hash of the text let the columnar
    path (``columnar``) draw the same split.
    """

    EXACT_UP_TO = EXACT_SPLIT_UP_TO

    def __init__(
        self,
        folder: Path,
        *,
        seed: int,
        test_fraction: float,
        placed: Callable[[int, int, int], None] = lambda row, side, offset: None,
    ):
        self.folder, self.seed, self.fraction = folder, seed, test_fraction
        self.placed = placed  # told (row, side, byte offset) for each example written
        self.held: list[tuple[int, list[dict], int]] = []
        self.streaming = False
        self.train = self.test = 0
        self.train_bytes = self.test_bytes = 0

    def __enter__(self):
        self.train_file = open(self.folder / "train.jsonl", "wb")  # noqa: SIM115
        self.test_file = open(self.folder / "test.jsonl", "wb")  # noqa: SIM115
        return self

    def _write(self, messages: list[dict], to_test: bool, row: int) -> None:
        line = orjson.dumps({"messages": messages}) + b"\n"
        if to_test:
            self.placed(row, preview.TEST, self.test_bytes)
            self.test_file.write(line)
            self.test += 1
            self.test_bytes += len(line)
        else:
            self.placed(row, preview.TRAIN, self.train_bytes)
            self.train_file.write(line)
            self.train += 1
            self.train_bytes += len(line)

    def _hashed_side(self, group: int) -> bool:
        return group_side(group, self.seed, self.fraction)

    def add(self, group: int, messages: list[dict], row: int) -> None:
        # Examples reach each file in row order, held or streamed: iter_rows relies on it.
        if self.streaming:
            self._write(messages, self._hashed_side(group), row)
            return
        self.held.append((group, messages, row))
        if len(self.held) > self.EXACT_UP_TO:
            self.streaming = True
            sides = group_sides(
                np.array([g for g, _, _ in self.held], dtype=np.uint64), self.seed, self.fraction
            )
            for (_, held_messages, held_row), to_test in zip(self.held, sides, strict=True):
                self._write(held_messages, bool(to_test), held_row)
            self.held = []

    def __exit__(self, *exc):
        if not self.streaming and exc[0] is None:
            test_rows = choose_test_rows(
                [(i, key) for i, (key, _, _) in enumerate(self.held)],
                seed=self.seed,
                test_fraction=self.fraction,
            )
            for i, (_, messages, row) in enumerate(self.held):
                self._write(messages, i in test_rows, row)
        self.train_file.close()
        self.test_file.close()


_U64 = 2**64 - 1


def _threshold(test_fraction: float) -> int:
    return min(int(test_fraction * 2**64), _U64)


def group_side(group: int, seed: int, test_fraction: float) -> bool:
    """True when a group goes to the test split: splitmix64 of (seed, group number) falls
    below ``test_fraction`` of its range. ``group_sides`` is the same for an array."""
    z = (group + seed * 0x9E3779B97F4A7C15) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31) < _threshold(test_fraction)


def group_sides(groups: np.ndarray, seed: int, test_fraction: float) -> np.ndarray:
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as splitmix64 means it to
        z = groups.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & _U64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z < np.uint64(_threshold(test_fraction))


def choose_test_rows(
    keys: list[tuple[int, Hashable]], *, seed: int, test_fraction: float
) -> set[int]:
    """Rows for the test split: whole groups of identical examples, shuffled with ``seed``,
    until about ``test_fraction`` of the rows are taken. Identical examples share a side,
    so the test set never scores the model on something it trained on."""
    groups: dict[bytes, list[int]] = {}
    for index, key in keys:
        groups.setdefault(key, []).append(index)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    target = round(len(keys) * test_fraction)
    if len(keys) >= 2 and target == 0:
        target = 1
    chosen: set[int] = set()
    for key in order:
        if len(chosen) >= target:
            break
        chosen.update(groups[key])
    if len(chosen) == len(keys):
        return set()  # one group of identical rows cannot be split without leaking: all train
    return chosen


def items_from_version(
    folder: Path, drop: Callable[[dict], bool], fill: dict[str, str] | None = None
) -> Iterator[Item]:
    """A version's rows, minus those ``drop`` says to leave out; ``fill``: values for the
    unfilled template variables of the texts ({"name": "Ada"} turns "{{name}}" into "Ada")."""
    for row in preview.iter_rows(folder):
        if drop(row):
            continue
        if "malformed" in row["issues"]:
            yield Item(row["line"], error=row.get("error"), malformed=True)
        else:
            messages = row.get("messages")
            if fill and messages:
                messages = [
                    m | {"content": rules.fill_template_variables(m.get("content") or "", fill)}
                    for m in messages
                ]
            yield Item(
                row["line"],
                messages,
                error=row.get("error"),
                encoding="encoding" in row["issues"],
            )


def template_variables(folder: Path, sample_rows: int = 500) -> list[tuple[str, int]]:
    """The unfilled template variables of a version, most used first, each with the number of
    rows holding it among the first ``sample_rows`` flagged rows (read through the index: the
    version page offers to fill them)."""
    counts: Counter = Counter()
    for row in preview.page_rows(folder, issue="template", per_page=sample_rows).rows:
        names = set()
        for message in row.get("messages") or []:
            names.update(rules.template_variables(message.get("content") or ""))
        counts.update(names)
    return counts.most_common()
