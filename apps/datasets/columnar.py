"""The columnar path: a well-formed UTF-8 CSV or TSV mapped by columns, a block at a time.

The file goes through in blocks of ``BLOCK_BYTES``, in a pipeline of threads each a block
or two ahead of the next: pyarrow parses; polars prepares what needs no other block (clean
texts, checks, the example's key and JSON line); a thread numbers groups of identical
examples in row order; the caller's thread detects the first rows' language, scores and
counts; the writer's thread renders rows.jsonl lines, keeps the index and writes. Parsing, polars,
numpy and file writes let go of the GIL, so the stages share both cores. The rules stay
those of the streaming path (``analysis.build_version``), and so do the bytes it writes:

- a row whose mapped cells are all ASCII follows the same rules written as column
  expressions; ASCII is what makes them exact (its whitespace, letters and digits and
  lower case are small fixed sets, spelled out below), and polars' JSON encoder escapes
  as orjson does;
- any other row goes through the streaming path's own functions (``records``,
  ``quality``), so a rule about the rest of Unicode has one definition.

Anything this reader cannot promise to read as Python's csv module does raises
``Irregular`` and the caller starts over on the streaming path, which reports such rows
one by one: a ragged row, an all-empty row (pyarrow reads a blank line as one), bytes
that are not UTF-8, a header spread over several lines. tests/datasets/test_columnar.py
holds both paths to the same files and report.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from string import Formatter

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from . import preview, records
from . import thresholds as T
from .analysis import (
    EXACT_SPLIT_UP_TO,
    Item,
    Progress,
    _no_progress,
    choose_test_rows,
    group_sides,
    item_from_values,
    row_record,
)
from .formats import Sniffed
from .quality import (
    ISSUE_LABELS,
    ReportBuilder,
    detect_language,
    score_row,
    warm_language_model,
)

BLOCK_BYTES = 8 << 20
PREPARED_AHEAD = 2  # blocks prepared ahead of the one being finished

# What Python's str.strip() and str.split() treat as whitespace, within ASCII.
_WS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_WS_CLASS = r"[ \t\n\r\x0b\x0c\x1c-\x1f]"
_WORD = r"[^ \t\n\r\x0b\x0c\x1c-\x1f]+"
_THREE_WORDS = f"^{_WORD}{_WS_CLASS}+{_WORD}{_WS_CLASS}+[^ \\t\\n\\r\\x0b\\x0c\\x1c-\\x1f]"
# quality._SENTENCE_END's ASCII characters; the text is stripped, so no trailing space.
_SENTENCE_END_ASCII = list(".!?)\"']}:;*`>")
_BITS = preview.ISSUE_BITS
_INDEX_DTYPE = preview.INDEX_DTYPE


class Irregular(Exception):
    """The file needs the streaming path; the message says why (for the log)."""


def supports(sniffed: Sniffed, mapping: dict, columns: list[str]) -> bool:
    """Whether a file and mapping are ones this path builds exactly as the streaming one."""
    if sniffed.format not in ("csv", "tsv") or sniffed.encoding not in ("utf-8", "utf-8-sig"):
        return False
    if mapping.get("kind") != "columns" or not mapping.get("output") or len(columns) < 2:
        return False
    return _template_parts(mapping.get("template") or "") is not None


def _template_parts(template: str) -> list[tuple[str, str | None]] | None:
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


def _header_is_one_line(path: Path, encoding: str, delimiter: str) -> bool:
    with open(path, encoding=encoding, newline="") as f:
        first_line = f.readline()
        f.seek(0)
        header = next(csv.reader(f, delimiter=delimiter), None)
    return header is not None and next(csv.reader([first_line], delimiter=delimiter)) == header


def _content(text: pl.Expr) -> pl.Expr:
    """ "content":"..."} as orjson writes it (the same escapes, tested): the encoder's
    {"content":...} less its opening brace. Only the text goes through the encoder; a
    literal role field would be a column of n strings to encode."""
    return pl.struct(content=text).struct.json_encode().str.slice(1)


class _Groups:
    """Numbers each distinct example in order of first appearance, across blocks.

    An example is known by a 64-bit hash of (input, output) (the streaming path keeps a
    96-bit digest): for a million distinct examples the chance that two collide, and the
    paths disagree, is about 3 in 100 million. The hashes live in an open-addressing table
    probed with whole arrays at once (linear probing, at most half full), so a block costs
    a few numpy passes rather than a Python loop or a sort of everything seen."""

    def __init__(self, capacity: int = 1 << 16):
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.groups = np.full(capacity, -1, dtype=np.int64)  # -1: an empty slot
        self.count = 0

    def _slots(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For distinct keys: the slot holding each, or the empty slot where it would go,
        and whether it was found."""
        mask = np.uint64(len(self.keys) - 1)
        slots = (keys & mask).astype(np.int64)
        pending = np.arange(len(keys))
        while pending.size:
            at = slots[pending]
            settled = (self.groups[at] < 0) | (self.keys[at] == keys[pending])
            moving = pending[~settled]
            slots[moving] = (slots[moving] + 1) & int(mask)
            pending = moving
        return slots, self.groups[slots] >= 0

    def _insert(self, keys: np.ndarray, groups: np.ndarray) -> None:
        while keys.size:
            slots, _ = self._slots(keys)
            # Two new keys may land on the same empty slot: the first takes it, the rest
            # probe again past it.
            _, first = np.unique(slots, return_index=True)
            self.keys[slots[first]] = keys[first]
            self.groups[slots[first]] = groups[first]
            rest = np.ones(len(keys), dtype=bool)
            rest[first] = False
            keys, groups = keys[rest], groups[rest]

    def _grow(self, needed: int) -> None:
        capacity = len(self.keys)
        while needed * 2 > capacity:
            capacity *= 2
        if capacity == len(self.keys):
            return
        used = self.groups >= 0
        keys, groups = self.keys[used], self.groups[used]
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.groups = np.full(capacity, -1, dtype=np.int64)
        self._insert(keys, groups)

    @staticmethod
    def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A block's distinct keys, where each first appears and each row's distinct key:
        needs no other block, so the preparing thread does it."""
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return distinct, first, inverse.ravel()

    def number(
        self, keys: np.ndarray, distinct: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each key's group, and whether an earlier row (here or in a block before) had it."""
        distinct, first, inverse = distinct or self.distinct(keys)
        self._grow(self.count + len(distinct))
        slots, found = self._slots(distinct)
        groups = np.where(found, self.groups[slots], -1)
        new = np.flatnonzero(~found)
        order = new[np.argsort(first[new], kind="stable")]  # new ones in order of appearance
        groups[order] = self.count + np.arange(len(order))
        self.count += len(order)
        self._insert(distinct[new], groups[new])
        later_here = np.arange(len(keys)) != first[inverse]
        return groups[inverse], found[inverse] | later_here


def build_version(
    path: Path,
    sniffed: Sniffed,
    columns: list[str],
    mapping: dict,
    out_dir: Path,
    *,
    expected_language: str = "en",
    seed: int = T.DEFAULT_SEED,
    test_fraction: float = T.DEFAULT_TEST_FRACTION,
    notices: list[str] | None = None,
    progress: Progress = _no_progress,
    block_bytes: int = BLOCK_BYTES,
) -> dict:
    """``analysis.build_version`` for a file ``supports`` accepts; raises Irregular."""
    if not _header_is_one_line(path, sniffed.encoding, sniffed.delimiter):
        raise Irregular("the header spans several lines")
    names = [f"c{i}" for i in range(len(columns))]

    source = open(path, "rb")  # noqa: SIM115 (closed below)
    try:
        # A Python file, not the path: given a path, pyarrow reads the rest of the file
        # ahead into memory (577 MB of a 600 MB file after the first block).
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=block_bytes, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=sniffed.delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,  # see Irregular: a blank line reads as all-empty
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, check_utf8=True
            ),
        )
    except pa.ArrowInvalid as exc:
        source.close()
        raise Irregular(str(exc)) from exc
    with source:
        return _build(
            reader,
            path,
            columns,
            mapping,
            out_dir,
            expected_language=expected_language,
            seed=seed,
            test_fraction=test_fraction,
            notices=notices,
            progress=progress,
        )


def _build(
    reader,
    path,
    columns,
    mapping,
    out_dir,
    *,
    expected_language,
    seed,
    test_fraction,
    notices,
    progress,
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    warm_language_model()  # detection waits for it (language.identifier holds a lock)
    block = _Block(columns, mapping, expected_language)
    writer = _Writer(out_dir, seed=seed, test_fraction=test_fraction, row_line=block.row_line_expr)
    size = max(path.stat().st_size, 1)
    read = 0

    # Stages on threads of their own, each a block or two ahead of the next, in order:
    # pyarrow parses; polars prepares what needs no other block; groups of identical
    # examples are numbered; this thread detects the first rows' language, scores and
    # counts; the writer's thread renders, indexes and writes (see the module docstring).
    groups = _Groups()

    def number(prepared):
        df, keys, distinct, nbytes = prepared
        return block.number(df, keys, distinct, groups), nbytes

    try:
        with (
            writer,
            _Ahead(_batches(reader), lambda batch: batch, depth=1) as batches,
            _Ahead(batches, block.prepare, depth=PREPARED_AHEAD) as prepared,
            _Ahead(prepared, number, depth=1) as numbered,
        ):
            for df, nbytes in numbered:
                writer.add(block.finish(df))
                read += nbytes
                progress(0.95 * min(1.0, read / size), "Analysing rows")
    finally:
        reader.close()
    progress(1.0, "Done")
    return block.report.finish(
        expected_language=expected_language,
        train=writer.train,
        test=writer.test,
        notices=notices or [],
    )


def _batches(reader) -> Iterator:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise Irregular(str(exc)) from exc
        if batch.num_rows:
            yield batch


class _Ahead:
    """``work`` over ``items`` on its own thread, at most ``depth`` results ahead of the
    caller, in order. An exception on the thread is raised to the caller in its place."""

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


class _Block:
    """Turns one block of CSV rows into the columns the writer needs, and feeds the report."""

    def __init__(self, columns: list[str], mapping: dict, expected_language: str):
        self._text_variants: dict[tuple, list[pl.Expr]] = {}
        self.columns = columns
        self.col = {name: f"c{i}" for i, name in enumerate(columns)}
        self.mapping = mapping
        self.expected_language = expected_language
        self.parts = _template_parts(mapping.get("template") or "")
        self.used = sorted(
            {self.col[n] for _, n in self.parts if n in self.col}
            | {self.col[mapping[k]] for k in ("output", "system") if mapping.get(k) in self.col}
        )
        self.rows = 0  # rows prepared so far
        self.line = 2  # the physical line the next row starts on
        self.report = ReportBuilder()
        self.placeholders = sorted(T.PLACEHOLDERS)

    def _cell(self, name: str | None, stripped: frozenset[str]) -> pl.Expr:
        if name not in self.col:
            return pl.lit("")
        column = self.col[name]
        if column in stripped:
            return pl.col(column).str.strip_chars(_WS)
        return pl.col(column)  # no cell starts or ends with whitespace: no copy

    def _user(self, stripped: frozenset[str]) -> pl.Expr:
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
        return joined.str.replace_all(r"\n{3,}", "\n\n").str.strip_chars(_WS)

    @functools.cached_property
    def _scan_exprs(self) -> list[pl.Expr]:
        """What decides how a block is read: an all-empty row, line breaks in cells, and
        which mapped columns have a cell to strip."""
        columns, edges = list(self.col.values()), list(_WS)
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
        if key not in self._text_variants:  # a few variants per file at most
            self._text_variants[key] = self._build_text_exprs(stripped, has_breaks)
        return self._text_variants[key]

    def _build_text_exprs(self, stripped: frozenset[str], has_breaks: bool) -> list[pl.Expr]:
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

    def prepare(self, batch: pa.RecordBatch) -> tuple[pl.DataFrame, np.ndarray, tuple, int]:
        """Everything about a block's rows that needs no other block: called in order, on
        the preparing thread."""
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
            missing=(pl.col("user") == "") | (pl.col("assistant") == ""),
            repaired=pl.lit(False),
            encoding=pl.lit(False),
        )
        self.rows += n
        df = self._features(self._python_rows(df))
        keys = df.filter(~pl.col("missing"))["key"].to_numpy()
        return df, keys, _Groups.distinct(keys), batch.nbytes

    def number(
        self, df: pl.DataFrame, keys: np.ndarray, distinct: tuple, groups: _Groups
    ) -> pl.DataFrame:
        """Groups and duplicates, which depend on every row before: called in order."""
        n = len(df)
        group, duplicate = groups.number(keys, distinct)
        trainable = ~df["missing"].to_numpy()
        full_group = np.full(n, -1, dtype=np.int64)
        full_group[trainable] = group
        full_duplicate = np.zeros(n, dtype=bool)
        full_duplicate[trainable] = duplicate
        return df.with_columns(group=pl.Series(full_group), duplicate=pl.Series(full_duplicate))

    def finish(self, df: pl.DataFrame) -> pl.DataFrame:
        """The first rows' languages, then scores and the report: called in order."""
        df = self._languages(df)
        df = self._score(df)
        self._report(df)
        return df.select(
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
        )

    def _python_rows(self, df: pl.DataFrame) -> pl.DataFrame:
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
            missing.append(not user.strip() or not assistant.strip())
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

    def _features(self, df: pl.DataFrame) -> pl.DataFrame:
        """One pass over the texts: lengths, the example's key, the checks that need no other
        row, and the example's line for the split file."""
        lengths, flags, rest = self._feature_exprs
        return df.with_columns(lengths).with_columns(flags).with_columns(rest)

    @functools.cached_property
    def _feature_exprs(self) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        # Built once: building polars expressions costs milliseconds, a block's work less.
        user, assistant = pl.col("user"), pl.col("assistant")
        u_len, a_len = pl.col("u_len"), pl.col("a_len")
        longest = max(len(p) for p in T.PLACEHOLDERS)

        def placeholder(text: pl.Expr) -> pl.Expr:
            # Only a short text can be in the list: lower-case only those ("#" is not listed).
            short = pl.when(text.str.len_bytes() <= longest).then(text).otherwise(pl.lit("#"))
            listed = short.str.to_lowercase().is_in(self.placeholders)
            return listed | ~text.str.contains("[A-Za-z0-9]")

        ratio = (u_len + 1) / (a_len + 1)
        most = pl.max_horizontal(u_len, a_len)
        flags = {
            "placeholder": placeholder(user) | placeholder(assistant),
            "short": ~user.str.contains(_THREE_WORDS) & ~assistant.str.contains(_THREE_WORDS),
            "truncated": (assistant.str.ends_with("...") & (a_len > 40))
            | (
                a_len.is_in(list(T.TRUNCATION_LENGTHS))
                & ~assistant.str.slice(-1).is_in(_SENTENCE_END_ASCII)
            ),
            "imbalance": ((ratio > T.IMBALANCE_RATIO) | (ratio < 1 / T.IMBALANCE_RATIO))
            & (most > 200),
            "very_long": most > T.VERY_LONG_CHARS,
        }
        set_flags = {
            "placeholder": pl.col("f_placeholder"),
            "very_short": ~pl.col("f_placeholder") & pl.col("f_short"),
            "truncated": pl.col("f_truncated"),
            "encoding": pl.col("encoding"),
            "imbalance": pl.col("f_imbalance"),
            "very_long": pl.col("f_very_long"),
        }
        system = self.mapping.get("system")
        head = pl.lit('{"messages":[{"role":"user",')
        if system:
            with_system = pl.concat_str(
                pl.lit('{"messages":[{"role":"system",'),
                _content(pl.col("system")),
                pl.lit(',{"role":"user",'),
            )
            head = pl.when(pl.col("system") == "").then(head).otherwise(with_system)
        split_line = pl.concat_str(
            head,
            _content(user),
            pl.lit(',{"role":"assistant",'),
            _content(assistant),
            pl.lit("]}\n"),
        )
        return (
            [user.str.len_chars().alias("u_len"), assistant.str.len_chars().alias("a_len")],
            [flag.alias(f"f_{name}") for name, flag in flags.items()],
            [
                pl.struct(user.hash(11), assistant.hash(23)).hash(7).alias("key"),
                pl.sum_horizontal(
                    flag.cast(pl.Int32) * _BITS[code] for code, flag in set_flags.items()
                ).alias("base_bits"),
                pl.sum_horizontal(
                    flag.cast(pl.Int32) * T.PENALTY[code] for code, flag in set_flags.items()
                ).alias("base_penalty"),
                pl.when(pl.col("ascii") & ~pl.col("missing")).then(split_line).alias("split_line"),
            ],
        )

    def _score(self, df: pl.DataFrame) -> pl.DataFrame:
        """Scores and issues; the rows.jsonl line is rendered on the writer's thread
        (``row_line_expr``), save for rows past ASCII, which _python_scores renders."""
        scores, _ = self._score_exprs
        return self._python_scores(df.with_columns(scores))

    @property
    def row_line_expr(self) -> pl.Expr:
        return self._score_exprs[1]

    @functools.cached_property
    def _score_exprs(self) -> tuple[list[pl.Expr], pl.Expr]:
        duplicate, language = pl.col("duplicate").cast(pl.Int32), pl.col("language").cast(pl.Int32)
        bits = pl.col("base_bits") + duplicate * _BITS["duplicate"] + language * _BITS["language"]
        penalty = (
            pl.col("base_penalty")
            + duplicate * T.PENALTY["duplicate"]
            + language * T.PENALTY["language"]
        )
        missing = pl.col("missing")
        scores = [
            pl.when(missing).then(_BITS["missing"]).otherwise(bits).cast(pl.UInt16).alias("bits"),
            pl.when(missing)
            .then(0)
            .otherwise((100 - penalty).clip(0, 100))
            .cast(pl.UInt8)
            .alias("score"),
        ]
        # Every combination of issues, as orjson writes the list (one byte of bits each).
        issues_json = {
            bits: orjson.dumps([c for c in ISSUE_LABELS if bits & _BITS[c]]).decode()
            for bits in range(1 << len(ISSUE_LABELS))
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
        row_line = pl.concat_str(
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
        return scores, pl.when(pl.col("ascii")).then(row_line).otherwise(pl.col("row_line")).alias(
            "row_line"
        )

    def _python_scores(self, df: pl.DataFrame) -> pl.DataFrame:
        """Scores and lines of the rows past ASCII, as the streaming path makes them."""
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
            bits.append(sum(_BITS[c] for c in quality.issues))
            row_lines.append(orjson.dumps(row).decode() + "\n")
            split_lines.append(
                orjson.dumps({"messages": parsed}).decode() + "\n" if trainable else None
            )
        updates = {"score": scores, "bits": bits, "row_line": row_lines, "split_line": split_lines}
        return df.with_columns(
            df[name].scatter(position, pl.Series(values, dtype=df[name].dtype))
            for name, values in updates.items()
        )

    def _report(self, df: pl.DataFrame) -> None:
        usable = ~pl.col("missing")
        sums = df.select(
            *(((pl.col("bits") & _BITS[code]) != 0).sum().alias(code) for code in ISSUE_LABELS),
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


class _Writer:
    """Renders each block's rows.jsonl lines, writes them and the split files, and keeps the
    row index, on a thread of its own in the order blocks are added: building lines,
    turning them into bytes and writing them let go of the GIL, so they overlap the next
    block's work."""

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
        table = np.zeros(len(block), dtype=_INDEX_DTYPE)
        lengths = block["row_line"].str.len_bytes().to_numpy().astype(np.uint64)
        table["offset"] = self.offset + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.offset += int(lengths.sum())
        table["score"] = block["score"].to_numpy()
        table["issues"] = block["bits"].to_numpy()
        _write_lines(self.rows_file, block["row_line"])
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
            _write_lines(self.split_files[value], lines.filter(pl.Series(mine)))
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
            table = np.concatenate(self.index) if self.index else np.zeros(0, _INDEX_DTYPE)
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


def _write_lines(f, lines: pl.Series) -> None:
    """Writes the lines' bytes straight from their Arrow buffer, without a Python string."""
    if not len(lines):
        return
    array = lines.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one buffer
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    f.write(memoryview(data)[ends[0] : ends[-1]])
