"""The columnar path writes the version the streaming path writes, byte for byte, or says it
cannot and leaves the file to the streaming path."""

import csv
import io
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apps.datasets import columnar, ingest
from apps.datasets.analysis import (
    build_version,
    group_side,
    group_sides,
    items_from_upload,
    read_upload,
)

SAMPLES = Path(__file__).resolve().parents[2] / "apps" / "datasets" / "samples"
FILES = ("rows.jsonl", "train.jsonl", "test.jsonl", "rows.index.npy")


def build_both(path: Path, out: Path, mapping=None, block_bytes=1 << 20):
    upload = read_upload(path, path.name)
    mapping = mapping or upload.proposal.as_dict()
    assert columnar.supports(upload.sniffed, mapping, upload.columns)
    streamed = build_version(items_from_upload(upload, mapping), out / "streamed")
    upload = read_upload(path, path.name)
    fast = columnar.build_version(
        path, upload.sniffed, upload.columns, mapping, out / "columnar", block_bytes=block_bytes
    )
    return streamed, fast


def assert_same_version(streamed, fast, out: Path):
    assert fast == streamed
    for name in FILES:
        a, b = (out / "streamed" / name).read_bytes(), (out / "columnar" / name).read_bytes()
        assert a == b, f"{name} differs"


def write_csv(path: Path, header, rows, delimiter=","):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def test_the_support_sample_builds_the_same_version(tmp_path):
    streamed, fast = build_both(SAMPLES / "customer_support.csv", tmp_path)
    assert_same_version(streamed, fast, tmp_path)
    assert fast["issue_counts"]["placeholder"] == 1 and fast["language"] == "en"


ASCII_TRICKS = [
    "",
    " ",
    "???",
    "N/A",
    "  none ",
    "ok",
    "two words",
    "three little words",
    'say "hi"\\ now',
    "line one\nline two\r\nthree\rfour",
    "tab\there",
    "\x0bvt\x1c",
    "\x01\x02 control",
    "x" * 255,
    "y" * 250 + " end.",
    "It was going to be long and then...",
    "Dear {{name}}, your order {{ order.id }} shipped.",
]
ascii_cells = st.one_of(
    st.sampled_from(ASCII_TRICKS),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"), max_size=30),
)
any_cells = st.one_of(
    ascii_cells,
    st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
    ),
    st.sampled_from(["cafÃ© crÃ¨me", "naïve café", "日本語のテキストです", "Ã", "Â\xa0", "… ”"]),
)
MAPPINGS = [
    {"kind": "columns", "inputs": ["q"], "output": "a", "template": "{q}"},
    {
        "kind": "columns",
        "inputs": ["q", "note"],
        "output": "a",
        "template": "Question: {q}\n\n{note}\n\n\n{{literal}}",
        "system": "sys",
    },
    {"kind": "columns", "inputs": ["note"], "output": "a", "template": "{note} / {missing}"},
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.one_of(ascii_cells, any_cells), ascii_cells, any_cells, ascii_cells),
        min_size=1,
        max_size=40,
    ),
    mapping=st.sampled_from(MAPPINGS),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
def test_any_table_builds_the_same_version(tmp_path_factory, rows, mapping, delimiter):
    out = tmp_path_factory.mktemp("v")
    # A row of empty cells is a blank line to pyarrow and left to the streaming path.
    rows = [r if any(r) else ("x", *r[1:]) for r in rows]
    path = out / "in.csv"
    write_csv(path, ["q", "a", "note", "sys"], rows, delimiter)
    assume(read_upload(path).sniffed.delimiter == delimiter)  # the sniffer can guess wrong
    try:
        streamed, fast = build_both(path, out, mapping, block_bytes=1024)
    except columnar.Irregular:
        pytest.fail("a file written by csv.writer was refused")
    assert_same_version(streamed, fast, out)


def test_many_blocks_a_streamed_split_and_duplicates_across_blocks(tmp_path):
    rows = []
    for i in range(3000):
        k = i % 2400  # the last 600 repeat earlier rows, in later blocks
        rows.append(
            [f"question {k} " + string.ascii_lowercase[k % 26] * 5, f"answer {k}.", "n", ""]
        )
    rows[5][0] = "café question"  # a row past ASCII among the vectorised ones
    rows[2900][1] = ""
    path = tmp_path / "big.csv"
    write_csv(path, ["q", "a", "note", "sys"], rows)
    streamed, fast = build_both(path, tmp_path, MAPPINGS[0], block_bytes=16 * 1024)
    assert_same_version(streamed, fast, tmp_path)
    # 600 repeats, less the one left empty and the one whose original was changed
    assert fast["issue_counts"]["duplicate"] == 598 and fast["issue_counts"]["missing"] == 1
    assert fast["train"] + fast["test"] == 2999


@pytest.mark.parametrize(
    "text, why",
    [
        ("q,a\nhow,fine\nragged\n", "columns"),
        ("q,a\nhow,fine\n\nnext,row\n", "all-empty"),
        ('"q\nstill header",a\nhow,fine\n', "header"),
        # past the 64 KB the sniffer reads, so the file is taken for UTF-8
        ("q,a\nhow,fine\n" + "x,y\n" * 20_000 + "bad \xff byte,z\n", "UTF8"),
    ],
)
def test_irregular_files_are_left_to_the_streaming_path(tmp_path, text, why):
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    upload = read_upload(path, path.name)
    mapping = {"kind": "columns", "inputs": ["q"], "output": "a", "template": "{q}"}
    assert columnar.supports(upload.sniffed, mapping, upload.columns)
    with pytest.raises(columnar.Irregular, match=why):
        columnar.build_version(path, upload.sniffed, upload.columns, mapping, tmp_path / "v")


def test_what_the_columnar_path_takes(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, ["q", "a"], [["x", "y"]])
    sniffed, columns = read_upload(path).sniffed, ["q", "a"]
    plain = {"kind": "columns", "inputs": ["q"], "output": "a", "template": "{q}"}
    assert columnar.supports(sniffed, plain, columns)
    assert not columnar.supports(sniffed, {**plain, "template": "{q!r}"}, columns)
    assert not columnar.supports(sniffed, {**plain, "template": "{q.upper}"}, columns)
    assert not columnar.supports(sniffed, {**plain, "output": None}, columns)
    assert not columnar.supports(sniffed, {**plain, "kind": "messages"}, columns)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"q": "x", "a": "y"}\n')
    assert not columnar.supports(read_upload(jsonl).sniffed, plain, columns)


@given(st.integers(0, 2**40), st.integers(-(2**62), 2**62), st.floats(0, 1))
def test_one_group_and_many_draw_the_same_side(group, seed, fraction):
    many = group_sides(np.array([group, group + 1], dtype=np.uint64), seed, fraction)
    assert list(many) == [group_side(group, seed, fraction), group_side(group + 1, seed, fraction)]


keys = st.one_of(st.integers(0, 60), st.integers(0, 2**64 - 1), st.sampled_from([0, 2**64 - 1]))


@given(st.lists(st.lists(keys, max_size=40), max_size=12))
def test_groups_are_numbered_in_order_of_first_appearance_across_blocks(blocks):
    numbering = columnar._Groups(capacity=4)  # small: probing wraps, collides and grows
    seen: dict[int, int] = {}
    for block in blocks:
        groups, duplicate = numbering.number(np.array(block, dtype=np.uint64))
        expected_duplicate = []
        for key in block:
            expected_duplicate.append(key in seen)
            seen.setdefault(key, len(seen))
        assert list(groups) == [seen[key] for key in block]
        assert list(duplicate) == expected_duplicate


def test_the_task_path_falls_back_to_streaming_for_an_irregular_file(tmp_path):
    """A ragged row deep in a file stops the columnar path mid-way; the version is then
    built by the streaming path, which reports the row, with nothing left of the attempt."""
    rows = [[f"question {i}", f"answer {i}."] for i in range(3000)]
    path = tmp_path / "ragged.csv"
    write_csv(path, ["q", "a"], rows)
    with open(path, "a") as f:
        f.write("only one field\n")
    upload = read_upload(path, path.name)
    mapping = upload.proposal.as_dict()
    report = ingest.build_from_upload(upload, mapping, tmp_path / "v")
    assert report["issue_counts"]["malformed"] == 1
    assert report["malformed"][0]["line"] == 3002
    assert report["total"] == 3001 and report["train"] + report["test"] == 3000
    streamed = build_version(
        items_from_upload(read_upload(path, path.name), mapping), tmp_path / "streamed"
    )
    assert report == streamed
    for name in FILES:
        assert (tmp_path / "v" / name).read_bytes() == (tmp_path / "streamed" / name).read_bytes()


def test_the_task_path_takes_the_columnar_path_for_a_regular_file(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(columnar, "_build", _counting(columnar._build, calls))
    upload = read_upload(SAMPLES / "customer_support.csv", "customer_support.csv")
    report = ingest.build_from_upload(upload, upload.proposal.as_dict(), tmp_path / "v")
    assert calls and report["total"] == 300


def _counting(function, calls):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def test_loading_the_task_modules_leaves_polars_out():
    """A prefork worker's parent imports the task modules, then forks; a child of a parent
    that has polars' thread pool running can deadlock. The columnar path is imported only
    when a task runs."""
    import os
    import subprocess
    import sys

    code = (
        "import django, sys; django.setup(); import apps.datasets.tasks; "
        "print('polars' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "vibeflow_site.settings"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
