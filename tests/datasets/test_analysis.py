"""From a sample file to a version's files and report, through the plain modules."""

import csv
import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.datasets.analysis import (
    build_version,
    choose_test_rows,
    items_from_upload,
    items_from_version,
    read_upload,
)
from apps.datasets.preview import iter_rows, page_rows

SAMPLES = Path(__file__).resolve().parents[2] / "apps" / "datasets" / "samples"


def analyse(path, out, mapping=None):
    upload = read_upload(path, path.name)
    mapping = mapping or upload.proposal.as_dict()
    report = build_version(items_from_upload(upload, mapping), out, notices=upload.sniffed.notices)
    return upload, report


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_support_sample_maps_scores_and_splits(tmp_path):
    upload, report = analyse(SAMPLES / "customer_support.csv", tmp_path)
    p = upload.proposal
    assert (p.inputs, p.output, p.confidence) == (["customer_message"], "support_reply", 0.95)
    assert set(p.ignored) == {"ticket_id", "created_at"}

    assert report["total"] == 300
    assert report["issue_counts"]["missing"] == 2
    assert report["issue_counts"]["duplicate"] >= 2
    assert report["issue_counts"]["placeholder"] == 1
    assert report["train"] + report["test"] == report["usable"] == 298
    assert 0.15 < report["test"] / report["usable"] < 0.25

    rows = read_jsonl(tmp_path / "rows.jsonl")
    assert len(rows) == 300
    placeholder = next(r for r in rows if r["line"] == 203)
    assert placeholder["score"] < 20 and "placeholder" in placeholder["issues"]

    train = {json.dumps(r["messages"]) for r in read_jsonl(tmp_path / "train.jsonl")}
    test = {json.dumps(r["messages"]) for r in read_jsonl(tmp_path / "test.jsonl")}
    assert not train & test, "an example sits on both sides of the split"


def test_the_alpaca_sample_joins_instruction_and_input(tmp_path):
    upload, report = analyse(SAMPLES / "alpaca_tasks.json", tmp_path)
    assert upload.proposal.inputs == ["instruction", "input"]
    first = next(iter_rows(tmp_path))["messages"]
    assert first[0]["role"] == "user" and first[1]["role"] == "assistant"
    assert report["issue_counts"].get("missing", 0) == 0


def test_the_reviews_sample_maps_text_to_label(tmp_path):
    upload, report = analyse(SAMPLES / "product_reviews.jsonl", tmp_path)
    assert (upload.proposal.inputs, upload.proposal.output) == (["text"], "label")
    assert report["total"] == 240


def test_a_row_nested_too_deep_is_an_unreadable_row_and_the_rest_is_analysed(tmp_path):
    good = [{"question": f"What is {i} plus {i}?", "answer": f"It is {2 * i}."} for i in range(30)]
    deep = '{"question": ' + "[" * 10_000 + "1" + "]" * 10_000 + ', "answer": "x"}'
    lines = [json.dumps(r) for r in good[:10]] + [deep] + [json.dumps(r) for r in good[10:]]
    for name, content in (
        ("deep.jsonl", "\n".join(lines) + "\n"),
        ("deep.json", "[" + ",".join(lines) + "]"),
    ):
        path = tmp_path / name
        path.write_text(content)
        upload, report = analyse(path, tmp_path / name.replace(".", "_"))
        assert (upload.proposal.inputs, upload.proposal.output) == (["question"], "answer")
        assert report["total"] == 31 and report["usable"] == 30
        assert report["issue_counts"]["malformed"] == 1
        assert report["malformed"][0]["line"] == 11
        assert "more than 100 levels deep" in report["malformed"][0]["error"]
        unreadable = next(c for c in report["checks"] if c["code"] == "malformed")
        assert "Unreadable rows: 1 (first: line 11" in unreadable["text"]


def test_the_split_is_seeded_and_stable():
    keys = [(i, bytes([i % 50])) for i in range(500)]
    assert choose_test_rows(keys, seed=1, test_fraction=0.2) == choose_test_rows(
        keys, seed=1, test_fraction=0.2
    )
    assert choose_test_rows(keys, seed=1, test_fraction=0.2) != choose_test_rows(
        keys, seed=2, test_fraction=0.2
    )


def test_a_derived_version_drops_only_what_was_asked(tmp_path):
    analyse(SAMPLES / "customer_support.csv", tmp_path / "v1")
    report = build_version(
        items_from_version(
            tmp_path / "v1",
            lambda row: "duplicate" in row["issues"] or "missing" in row["issues"],
        ),
        tmp_path / "v2",
    )
    v1 = read_jsonl(tmp_path / "v1" / "rows.jsonl")
    dropped = sum(1 for r in v1 if "duplicate" in r["issues"] or "missing" in r["issues"])
    assert report["total"] == 300 - dropped
    assert report["issue_counts"].get("duplicate", 0) == 0
    assert report["issue_counts"].get("missing", 0) == 0


cells = st.one_of(
    st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=60))
def test_counts_add_up_for_any_table(tmp_path_factory, table):
    out = tmp_path_factory.mktemp("v")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["question", "answer", "note"])
    writer.writerows([["" if c is None else c for c in row] for row in table])
    path = out / "in.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")

    upload = read_upload(path, "in.csv")
    mapping = {
        "kind": "columns",
        "inputs": ["question"],
        "output": "answer",
        "template": "{question}",
    }
    report = build_version(items_from_upload(upload, mapping), out / "version")

    rows = read_jsonl(out / "version" / "rows.jsonl")
    counts = report["issue_counts"]
    # Nothing is lost between raw and processed except what the report says.
    assert report["total"] == len(rows) == len(table)
    assert (
        report["usable"] + counts.get("missing", 0) + counts.get("malformed", 0) == report["total"]
    )
    assert report["train"] + report["test"] == report["usable"]
    assert len(read_jsonl(out / "version" / "train.jsonl")) == report["train"]
    assert all(0 <= r["score"] <= 100 for r in rows)

    # Every row reads back with what it was built from: trainable rows from their split
    # file (rows.jsonl does not repeat them), the others inline; the preview agrees.
    back = list(iter_rows(out / "version"))
    assert len(back) == len(rows)
    split_examples = sorted(
        json.dumps(r["messages"])
        for name in ("train.jsonl", "test.jsonl")
        for r in read_jsonl(out / "version" / name)
    )
    trainable = [r for r in back if "missing" not in r["issues"] and "malformed" not in r["issues"]]
    assert sorted(json.dumps(r["messages"]) for r in trainable) == split_examples
    assert not any("messages" in r for r in rows if "missing" not in r["issues"])
    paged = page_rows(out / "version", per_page=len(back))
    assert [r.get("messages") for r in paged.rows] == [r.get("messages") for r in back]


def test_large_versions_point_into_a_streamed_split(tmp_path):
    """Past the exact split's size the split streams; rows still find their examples, the
    file holds each text once, and a derived version carries the same examples."""
    n = 2600
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "answer"])
        for i in range(n):
            writer.writerow([f"question {i % 2500}", f"answer number {i % 2500}"])
    analyse(path, tmp_path / "v1")
    rows_bytes = (tmp_path / "v1" / "rows.jsonl").read_bytes()
    assert b"answer number" not in rows_bytes
    back = list(iter_rows(tmp_path / "v1"))
    assert [r["messages"][-1]["content"] for r in back] == [
        f"answer number {i % 2500}" for i in range(n)
    ]
    page = page_rows(tmp_path / "v1", page=100, per_page=25)
    assert [r["messages"][0]["content"] for r in page.rows] == [
        f"question {i % 2500}" for i in range(2475, 2500)
    ]

    report = build_version(
        items_from_version(tmp_path / "v1", lambda row: "duplicate" in row["issues"]),
        tmp_path / "v2",
    )
    assert report["total"] == 2500 and report["train"] + report["test"] == 2500


def test_versions_written_with_inline_messages_still_read(tmp_path):
    """Versions made before rows pointed into the split (messages inline, an index
    without sides) page and derive as before."""
    import numpy as np

    analyse(SAMPLES / "customer_support.csv", tmp_path)
    full = list(iter_rows(tmp_path))
    old_dtype = np.dtype([("offset", "<u8"), ("score", "u1"), ("issues", "<u2")])
    table = np.load(tmp_path / "rows.index.npy")
    old = np.zeros(len(table), dtype=old_dtype)
    offset = 0
    with open(tmp_path / "rows.jsonl", "wb") as f:
        for i, row in enumerate(full):
            line = json.dumps(row).encode() + b"\n"
            old[i] = (offset, row["score"], table["issues"][i])
            f.write(line)
            offset += len(line)
    np.save(tmp_path / "rows.index.npy", old)
    assert list(iter_rows(tmp_path)) == full
    assert page_rows(tmp_path, page=2, per_page=10).rows == full[10:20]
