"""The columnar path: a well-formed UTF-8 CSV or TSV mapped by columns, a block at a time.

The file goes through in blocks of ``BLOCK_BYTES``, in a pipeline of stages, each on a
thread of its own a block or two ahead of the next (``reading.Ahead``):

1. ``reading``  pyarrow parses a block;
2. ``texts``    the cells become each row's input, output and system texts;
3. ``checks``   the rules that need no other row, its key and its split-file line;
4. ``groups``   identical examples are numbered in row order: duplicates;
5. ``scores``   (the caller's thread) the first rows' language, scores, the report;
6. ``writer``   rows.jsonl lines rendered (``lines``), the index and split files written.

Parsing, polars, numpy and file writes let go of the GIL, so the stages share the cores.
The rules stay those of the streaming path (``analysis.build_version``), and so do the
bytes it writes:

- a row whose mapped cells are all ASCII is mapped by column expressions and scored by
  the rules of ``rules`` applied to columns; ASCII is what makes the text features exact
  (its whitespace, letters and digits and lower case are small fixed sets, spelled out
  in ``texts`` and ``checks``), and polars' JSON encoder escapes as orjson does;
- any other row goes through the streaming path's own functions (``records``,
  ``quality``), so a rule about the rest of Unicode has one definition.

Anything this reader cannot promise to read as Python's csv module does raises
``Irregular`` and the caller starts over on the streaming path, which reports such rows
one by one: a ragged row, an all-empty row (pyarrow reads a blank line as one), bytes
that are not UTF-8, a header spread over several lines. tests/datasets/test_columnar.py
holds both paths to the same files and report.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .. import thresholds as T
from ..analysis import Progress, no_progress
from ..formats import Sniffed
from ..quality import warm_language_model
from . import lines
from .checks import Checks
from .groups import Groups, mark
from .reading import Ahead, Irregular, batches, header_is_one_line, open_reader
from .scores import Scores
from .texts import Texts, template_parts
from .writer import Writer

__all__ = ["BLOCK_BYTES", "Irregular", "build_version", "supports"]

BLOCK_BYTES = 8 << 20
PREPARED_AHEAD = 2  # blocks prepared ahead of the one being finished
_Groups = Groups  # the name tests/datasets/test_columnar.py knows


def supports(sniffed: Sniffed, mapping: dict, columns: list[str]) -> bool:
    """Whether a file and mapping are ones this path builds exactly as the streaming one."""
    if sniffed.format not in ("csv", "tsv") or sniffed.encoding not in ("utf-8", "utf-8-sig"):
        return False
    if mapping.get("kind") != "columns" or not mapping.get("output") or len(columns) < 2:
        return False
    return template_parts(mapping.get("template") or "") is not None


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
    progress: Progress = no_progress,
    block_bytes: int = BLOCK_BYTES,
) -> dict:
    """``analysis.build_version`` for a file ``supports`` accepts; raises Irregular."""
    if not header_is_one_line(path, sniffed.encoding, sniffed.delimiter):
        raise Irregular("the header spans several lines")
    names = [f"c{i}" for i in range(len(columns))]
    source = open(path, "rb")  # noqa: SIM115 (closed below)
    try:
        reader = open_reader(source, names, sniffed.delimiter, block_bytes)
    except Irregular:
        source.close()
        raise
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
    """The stages, wired: each ``Ahead`` runs one on its own thread (module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    warm_language_model()  # detection waits for it (language.identifier holds a lock)
    texts, checks, groups = Texts(columns, mapping), Checks(mapping), Groups()
    scores = Scores(expected_language)
    writer = Writer(out_dir, seed=seed, test_fraction=test_fraction, row_line=lines.row_line())
    size = max(path.stat().st_size, 1)
    read = 0

    def prepare(batch):
        """Stages 2 and 3, and the keys stage 4 numbers: all that needs no other block."""
        df = checks.apply(texts.read(batch))
        keys = df.filter(~pl.col("missing"))["key"].to_numpy()
        return df, keys, Groups.distinct(keys), batch.nbytes

    def number(prepared):
        df, keys, distinct, nbytes = prepared
        return mark(df, keys, distinct, groups), nbytes

    try:
        with (
            writer,
            Ahead(batches(reader), lambda batch: batch, depth=1) as parsed,
            Ahead(parsed, prepare, depth=PREPARED_AHEAD) as prepared,
            Ahead(prepared, number, depth=1) as numbered,
        ):
            for df, nbytes in numbered:
                writer.add(scores.finish(df))
                read += nbytes
                progress(0.95 * min(1.0, read / size), "Analysing rows")
    finally:
        reader.close()
    progress(1.0, "Done")
    return scores.report.finish(
        expected_language=expected_language,
        train=writer.train,
        test=writer.test,
        notices=notices or [],
    )
