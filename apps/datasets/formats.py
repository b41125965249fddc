"""Reading uploaded files: sniff what they really are, then stream their rows.

Nothing here reads a whole file into memory. A file is judged by its bytes, not
its name: a JSON Lines file called .csv is read as JSON Lines (and the report
says so); a ZIP archive called .csv is refused with a sentence saying what it is.
Rows that cannot be read are yielded as ``Malformed`` with their line number,
so the caller can report them and let the user drop them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
import ijson

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")
_HEAD_BYTES = 64 * 1024
csv.field_size_limit(64 * 1024 * 1024)

# Levels of objects and lists a row may nest (the row itself is level 1). No real example nests
# anywhere near this deep; Python's JSON decoder, and whatever walks a value afterwards (str(),
# the JSON writers), recurse once per level and give up near 1,000 levels (orjson's writer at
# 255), so a deeper row is reported as unreadable here, with a reason, rather than crash later.
MAX_NESTING = 100
TOO_DEEP = f"nests objects or lists more than {MAX_NESTING} levels deep; flatten it"


class DatasetFormatError(ValueError):
    """A file that cannot be read at all; the message is for the user."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class Sniffed:
    format: str
    encoding: str = "utf-8"
    delimiter: str = ","
    notices: list[str] = field(default_factory=list)
    bytes_read: int = 0  # how far the reader has got, for progress


class _Counting(io.RawIOBase):
    """A raw file that tells the Sniffed record how many bytes were read so far."""

    def __init__(self, path: Path, sniffed: Sniffed):
        self._file = open(path, "rb")  # noqa: SIM115 (closed with this object)
        self._sniffed = sniffed

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self._file.readinto(buffer)
        self._sniffed.bytes_read += n or 0
        return n

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        position = self._file.seek(offset, whence)
        self._sniffed.bytes_read = position
        return position

    def tell(self):
        return self._file.tell()

    def close(self):
        self._file.close()
        super().close()


def _open_text(path: Path, sniffed: Sniffed, newline=None):
    buffered = io.BufferedReader(_Counting(path, sniffed), buffer_size=1024 * 1024)
    return io.TextIOWrapper(buffered, encoding=sniffed.encoding, errors="replace", newline=newline)


def _open_binary(path: Path, sniffed: Sniffed):
    return io.BufferedReader(_Counting(path, sniffed), buffer_size=1024 * 1024)


@dataclass
class Malformed:
    line: int
    error: str


@dataclass
class Row:
    line: (
        int  # 1-based line (CSV: the physical line the record starts on) or index for JSON/Parquet
    )
    values: dict


_DISTINCT_ENCODINGS = {
    "cp1251",
    "koi8_r",
    "shift_jis",
    "cp932",
    "euc_jp",
    "gb18030",
    "gb2312",
    "gbk",
    "big5",
    "euc_kr",
    "cp949",
    "cp1253",
    "iso8859_7",
    "cp1255",
    "cp1256",
    "tis_620",
}


def _decode_head(head: bytes) -> tuple[str, str, list[str]]:
    """The head's text, the encoding to read the file with, and notices about it."""
    if head.startswith(codecs.BOM_UTF8):
        return (
            head[3:].decode("utf-8", errors="replace"),
            "utf-8-sig",
            ["The file starts with a byte-order mark; it was skipped."],
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return (
            head.decode("utf-16", errors="replace"),
            "utf-16",
            ["The file is UTF-16; it was read as such."],
        )
    # A multi-byte character may be cut at the end of the head: decode incrementally.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=False), "utf-8", []
    except UnicodeDecodeError:
        pass
    # Guessers are unreliable between the Western single-byte code pages on short
    # samples; trust them only for scripts that Windows-1252 cannot show at all.
    best = charset_normalizer.from_bytes(head).best()
    encoding = (
        best.encoding if best is not None and best.encoding in _DISTINCT_ENCODINGS else "cp1252"
    )
    name = {"cp1252": "Windows-1252", "latin_1": "Latin-1", "iso8859_1": "Latin-1"}.get(
        encoding, encoding
    )
    return (
        head.decode(encoding, errors="replace"),
        encoding,
        [f"The file is not UTF-8; it was read as {name}."],
    )


CHAT_KEYS = ("messages", "conversations", "conversation")


def _is_turn(item: dict) -> bool:
    """A chat turn: OpenAI's role and content, or ShareGPT's from and value."""
    return {"role", "content"} <= item.keys() or {"from", "value"} <= item.keys()


def sniff(path: Path, claimed_name: str = "") -> Sniffed:
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if not head.strip():
        raise DatasetFormatError("The file is empty.", "empty")
    if head.startswith(b"PAR1"):
        result = Sniffed("parquet", encoding="binary")
    elif head.startswith(b"PK\x03\x04"):
        raise DatasetFormatError(
            "This is a ZIP archive, not a data file. Unzip it and upload the CSV, JSON, JSONL or Parquet file inside.",
            "zip",
        )
    elif head.startswith(b"\x1f\x8b"):
        raise DatasetFormatError(
            "This file is gzip-compressed. Decompress it and upload the file inside.", "gzip"
        )
    elif b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DatasetFormatError(
            "This is a binary file, not text. Supported: CSV, TSV, JSON, JSONL and Parquet.",
            "binary",
        )
    else:
        text, encoding, notices = _decode_head(head)
        stripped = text.lstrip()
        if stripped.startswith("["):
            result = Sniffed("json", encoding, notices=notices)
        elif stripped.startswith("{"):
            first_line, _, rest = stripped.partition("\n")
            try:
                first_value = json.loads(first_line)
            except RecursionError:
                # A whole line too deep to decode: JSON Lines, whose reader says so for that line.
                result = Sniffed("jsonl", encoding, notices=notices)
            except ValueError:
                result = Sniffed("json", encoding, notices=notices)
            else:
                # One line holding a wrapper such as {"data": [{...}, ...]} is a JSON document;
                # one holding a conversation ({"messages": [{"role", "content"}, ...]}) is a
                # single JSON Lines example, not a list of rows.
                wrapper = (
                    not rest.strip()
                    and any(
                        isinstance(v, list)
                        and v
                        and all(isinstance(i, dict) for i in v)
                        and not (k.lower() in CHAT_KEYS and all(_is_turn(i) for i in v))
                        for k, v in first_value.items()
                    )
                    if isinstance(first_value, dict)
                    else False
                )
                result = Sniffed("json" if wrapper else "jsonl", encoding, notices=notices)
        else:
            sample = text[: 16 * 1024]
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
                delimiter = dialect.delimiter
            except csv.Error:
                first = sample.split("\n", 1)[0]
                delimiter = "\t" if first.count("\t") > first.count(",") else ","
            result = Sniffed("tsv" if delimiter == "\t" else "csv", encoding, delimiter, notices)
    claimed = Path(claimed_name).suffix.lower().lstrip(".")
    aliases = {"txt": "csv", "ndjson": "jsonl", "pq": "parquet"}
    claimed = aliases.get(claimed, claimed)
    if (
        claimed in FORMATS
        and claimed != result.format
        and {claimed, result.format} != {"csv", "tsv"}
    ):
        result.notices.append(
            f"The file is named .{claimed} but contains {result.format.upper()}; it was read as {result.format.upper()}."
        )
    return result


def _unique_columns(names: list[str]) -> tuple[list[str], list[str]]:
    seen: dict[str, int] = {}
    out, notices = [], []
    for i, raw in enumerate(names):
        name = (raw or "").strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            new = f"{name} ({seen[name]})"
            notices.append(f"Two columns are named “{name}”; column {i + 1} was renamed “{new}”.")
            name = new
        else:
            seen[name] = 1
        out.append(name)
    return out, notices


def _rows_csv(path: Path, sniffed: Sniffed) -> Iterator[Row | Malformed]:
    with _open_text(path, sniffed, newline="") as f:
        reader = csv.reader(f, delimiter=sniffed.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetFormatError("The file is empty.", "empty") from None
        except csv.Error as exc:
            raise DatasetFormatError(
                f"The header row could not be read: {exc}.", "bad_header"
            ) from None
        columns, notices = _unique_columns(header)
        sniffed.notices.extend(notices)
        width = len(columns)
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Malformed(line, f"unreadable CSV: {exc}")
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if len(fields) != width:
                yield Malformed(line, f"has {len(fields)} fields, the header has {width}")
                continue
            yield Row(line, dict(zip(columns, fields, strict=True)))


def _rows_jsonl(path: Path, sniffed: Sniffed) -> Iterator[Row | Malformed]:
    with _open_text(path, sniffed) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except RecursionError:
                yield Malformed(number, TOO_DEEP)
                continue
            except ValueError as exc:
                yield Malformed(number, f"is not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield Malformed(number, f"is a JSON {type(value).__name__}, not an object")
                continue
            # Only a line with that many brackets can nest that deep: almost every row skips the walk.
            if line.count("{") + line.count("[") > MAX_NESTING and nests_too_deep(value):
                yield Malformed(number, TOO_DEEP)
                continue
            yield Row(number, value)


def nests_too_deep(value, limit: int = MAX_NESTING) -> bool:
    """Whether objects and lists in ``value`` (level 1) go more than ``limit`` levels deep.
    Iterative: such a value is exactly what recursion cannot walk."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _rows_json(path: Path, sniffed: Sniffed) -> Iterator[Row | Malformed]:
    with _open_binary(path, sniffed) as raw:
        head = raw.peek(4096)[:4096].decode(
            sniffed.encoding if sniffed.encoding != "utf-8-sig" else "utf-8", errors="replace"
        )
        first = head.lstrip("\ufeff \t\r\n")[:1]
        # Parser events, not ijson.items: items keeps a path string per level (memory grows
        # with the square of the depth: a 200 KB file of brackets exhausts the machine), and
        # builds values of any depth. Here each example is built up to MAX_NESTING levels and
        # a deeper one is read past, reported, and the rest of the file still read.
        events = ijson.basic_parse(raw, use_float=True)
        try:
            if first == "{":
                # One object: accept the common {"data": [...]} wrapper, refuse anything else.
                key = _wrapped_list(events)
                if key is None:
                    raise DatasetFormatError(
                        "The JSON file is one object, not a list of examples. Use a JSON array of "
                        "objects, or JSON Lines with one object per line.",
                        "json_object",
                    )
                # Shown without a NUL (JSON's \u0000): the report is jsonb, which refuses it.
                shown = key.replace("\x00", "\ufffd")
                sniffed.notices.append(f"The examples were read from the list under “{shown}”.")
            elif next(events, ("", None))[0] != "start_array":
                return
            for index, item in enumerate(_array_items(events), start=1):
                if isinstance(item, dict):
                    yield Row(index, item)
                else:
                    yield Malformed(index, f"item {index} {item}")
            for _ in events:  # what follows the list must be valid JSON too
                pass
        except ijson.JSONError as exc:
            raise DatasetFormatError(
                f"The JSON file is not valid JSON: {exc}.", "bad_json"
            ) from None


def _wrapped_list(events) -> str | None:
    """Read a top-level object's events up to its first key holding a list; that key (the
    events go on with the list's items), or None when the object ends without one."""
    depth, key = 0, None
    for event, value in events:
        if event == "map_key" and depth == 1:
            key = value
        elif event in ("start_map", "start_array"):
            if event == "start_array" and depth == 1:
                return key
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return None
    return None


def _skip(events, depth: int = 1) -> None:
    """Read past the ``depth`` objects or lists already open, building nothing."""
    for event, _ in events:
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


def _array_items(events) -> Iterator[dict | str]:
    """The items of the list just opened: each object built, or why the item is no example."""
    for event, value in events:
        if event == "end_array":
            return
        if event == "start_map":
            yield _object(events)
        elif event == "start_array":
            _skip(events)
            yield "is a JSON list, not an object"
        else:
            yield f"is a JSON {type(value).__name__}, not an object"


def _object(events) -> dict | str:
    """The object just opened, built from its events (what ijson's builder does, inline for
    speed), or TOO_DEEP, read to its end, when it nests more than MAX_NESTING levels."""
    root: dict = {}
    stack: list = [root]
    key = None
    for event, value in events:
        if event == "map_key":
            key = value
        elif event == "start_map" or event == "start_array":
            if len(stack) == MAX_NESTING:
                _skip(events, len(stack) + 1)
                return TOO_DEEP
            child = {} if event == "start_map" else []
            parent = stack[-1]
            if type(parent) is dict:
                parent[key] = child
            else:
                parent.append(child)
            stack.append(child)
        elif event == "end_map" or event == "end_array":
            stack.pop()
            if not stack:
                return root
        else:
            parent = stack[-1]
            if type(parent) is dict:
                parent[key] = value
            else:
                parent.append(value)
    raise ijson.IncompleteJSONError("the file ends inside an example")


def _rows_parquet(path: Path, sniffed: Sniffed) -> Iterator[Row | Malformed]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetFormatError(
            f"The Parquet file could not be read: {exc}.", "bad_parquet"
        ) from None
    nested = [
        f.name
        for f in parquet.schema_arrow
        if pa.types.is_nested(f.type) and f.name not in ("messages", "conversations")
    ]
    if nested:
        sniffed.notices.append(
            "Nested columns ("
            + ", ".join(nested)
            + ") were turned into JSON text; flatten them to map them as text."
        )
    index = 0
    size = Path(path).stat().st_size
    for number, batch in enumerate(parquet.iter_batches(batch_size=10_000)):
        sniffed.bytes_read = min(
            size, round(size * (number + 1) * 10_000 / max(parquet.metadata.num_rows, 1))
        )
        for values in batch.to_pylist():
            index += 1
            for name in nested:
                if values.get(name) is not None:
                    values[name] = json.dumps(values[name], ensure_ascii=False, default=str)
            yield Row(index, values)


_READERS = {
    "csv": _rows_csv,
    "tsv": _rows_csv,
    "jsonl": _rows_jsonl,
    "json": _rows_json,
    "parquet": _rows_parquet,
}


def iter_rows(path: Path, sniffed: Sniffed) -> Iterator[Row | Malformed]:
    """Stream the file's rows; raises DatasetFormatError when the file as a whole is unreadable."""
    return _READERS[sniffed.format](Path(path), sniffed)
