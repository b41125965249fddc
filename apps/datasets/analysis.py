"""One pass from a file (or a parent version) to a dataset version's files and report.

Outputs, in the version's folder:
  rows.jsonl   every row: its line, score, issues and canonical messages (what the preview pages)
  train.jsonl  {"messages": [...]} for the training split
  test.jsonl   the same for the test split

1. ``read_upload`` sniffs the file, reads the first rows and proposes a mapping.
2. ``build_version`` streams items (rows turned into messages) through scoring and
   duplicate detection, writes rows.jsonl, then splits by example so identical
   examples never sit on both sides, and writes train/test.
3. ``derive_version`` makes a new version from a parent's rows.jsonl without some rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import detection, preview, records
from . import thresholds as T
from .formats import Malformed, Row, Sniffed, iter_rows, sniff
from .quality import ReportBuilder, detect_language, repair_text, score_row

DETECT_ROWS = 100

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, stage: str) -> None:
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
            if key not in columns:
                columns.append(key)
    proposal = detection.propose(columns, [r.values for r in good])
    return Upload(
        sniffed, columns, proposal, itertools.chain(first, rows), os.path.getsize(path), first
    )


def _clean(text: str) -> tuple[str, bool, bool]:
    fixed, repaired = repair_text(text)
    return fixed, repaired, "\ufffd" in fixed


def items_from_upload(upload: Upload, mapping: dict) -> Iterator[Item]:
    for row in upload.rows:
        if isinstance(row, Malformed):
            yield Item(row.line, error=row.error, malformed=True)
            continue
        try:
            messages = records.to_record(row.values, mapping)
        except records.RecordError as exc:
            yield Item(row.line, error=str(exc))
            continue
        repaired_any = encoding_any = False
        for message in messages:
            message["content"], repaired, broken = _clean(message["content"])
            repaired_any |= repaired
            encoding_any |= broken
        yield Item(row.line, messages, repaired=repaired_any, encoding=encoding_any)


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
    progress: Progress = _no_progress,
    position: Callable[[], float] = lambda: 0.0,
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ReportBuilder()
    seen: set[bytes] = set()
    keys: list[tuple[int, bytes]] = []  # (row index, example key) of trainable rows
    index_file = preview.IndexWriter()
    with open(out_dir / "rows.jsonl", "wb") as out:

        def emit(row: dict) -> None:
            index_file.add(out.tell(), row["score"], row["issues"])
            out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")

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
            duplicate = key in seen
            seen.add(key)
            language = None
            mismatch = False
            if index < T.LANGUAGE_SAMPLE_ROWS and messages:
                language = detect_language(f"{user} {assistant}")
                mismatch = language is not None and language != expected_language
            quality = score_row(
                user, assistant, duplicate=duplicate, encoding=item.encoding, language=mismatch
            )
            report.add(user, assistant, quality, repaired=item.repaired, language=language)
            row = {"i": index, "line": item.line, "score": quality.score, "issues": quality.issues}
            if item.messages is not None:
                row["messages"] = item.messages
            if item.error:
                row["error"] = item.error
            emit(row)
            if "missing" not in quality.issues:
                keys.append((index, key))
            if index % 5000 == 0:
                progress(0.9 * position(), "Analysing rows")
    index_file.save(out_dir)
    progress(0.9, "Splitting into train and test")
    test_rows = choose_test_rows(keys, seed=seed, test_fraction=test_fraction)
    train = test = 0
    with (
        open(out_dir / "rows.jsonl", encoding="utf-8") as rows,
        open(out_dir / "train.jsonl", "w", encoding="utf-8") as train_file,
        open(out_dir / "test.jsonl", "w", encoding="utf-8") as test_file,
    ):
        trainable = {index for index, _ in keys}
        for line in rows:
            row = json.loads(line)
            if row["i"] not in trainable:
                continue
            record = json.dumps({"messages": row["messages"]}, ensure_ascii=False) + "\n"
            if row["i"] in test_rows:
                test_file.write(record)
                test += 1
            else:
                train_file.write(record)
                train += 1
    progress(1.0, "Done")
    return report.finish(
        expected_language=expected_language, train=train, test=test, notices=notices or []
    )


def choose_test_rows(keys: list[tuple[int, bytes]], *, seed: int, test_fraction: float) -> set[int]:
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


def items_from_rows_file(path: Path, drop: Callable[[dict], bool]) -> Iterator[Item]:
    """A parent version's rows, minus those ``drop`` says to leave out."""
    with open(path, encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            if drop(row):
                continue
            if "malformed" in row["issues"]:
                yield Item(row["line"], error=row.get("error"), malformed=True)
            else:
                yield Item(
                    row["line"],
                    row.get("messages"),
                    error=row.get("error"),
                    encoding="encoding" in row["issues"],
                )
