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
    items_from_rows_file,
    items_from_upload,
    read_upload,
)

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
    first = read_jsonl(tmp_path / "rows.jsonl")[0]["messages"]
    assert first[0]["role"] == "user" and first[1]["role"] == "assistant"
    assert report["issue_counts"].get("missing", 0) == 0


def test_the_reviews_sample_maps_text_to_label(tmp_path):
    upload, report = analyse(SAMPLES / "product_reviews.jsonl", tmp_path)
    assert (upload.proposal.inputs, upload.proposal.output) == (["text"], "label")
    assert report["total"] == 240


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
        items_from_rows_file(
            tmp_path / "v1" / "rows.jsonl",
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
