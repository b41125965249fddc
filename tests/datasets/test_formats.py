"""Reading what users actually upload, and refusing what cannot be read with a sentence."""

import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.datasets.formats import (
    MAX_NESTING,
    TOO_DEEP,
    DatasetFormatError,
    Malformed,
    Row,
    iter_rows,
    sniff,
)


def rows_of(path, name=""):
    sniffed = sniff(path, name or path.name)
    return sniffed, list(iter_rows(path, sniffed))


def write(tmp_path, name, content, mode="w", **kw):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, **kw)
    return path


def test_it_reads_csv(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "a.csv", 'question,answer\n"Hi, there?",Hello\nx,y\n'))
    assert sniffed.format == "csv"
    assert [r.values for r in rows] == [
        {"question": "Hi, there?", "answer": "Hello"},
        {"question": "x", "answer": "y"},
    ]
    assert rows[0].line == 2


def test_it_sniffs_tabs_and_semicolons(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "a.tsv", "prompt\tcompletion\nsay hi\thi\n"))
    assert sniffed.format == "tsv"
    assert rows[0].values == {"prompt": "say hi", "completion": "hi"}
    sniffed, rows = rows_of(write(tmp_path, "b.csv", "prompt;completion\nsay hi;hi\nand bye;bye\n"))
    assert sniffed.delimiter == ";"
    assert rows[1].values["completion"] == "bye"


def test_it_skips_a_bom_and_says_so(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "a.csv", b"\xef\xbb\xbfinput,output\na,b\n", mode="wb"))
    assert list(rows[0].values) == ["input", "output"]
    assert any("byte-order mark" in n for n in sniffed.notices)


def test_it_reads_latin1_bytes(tmp_path):
    sniffed, rows = rows_of(
        write(
            tmp_path,
            "a.csv",
            "input,output\ncaf\xe9 cr\xe8me,tr\xe8s bien\n".encode("latin-1"),
            mode="wb",
        )
    )
    assert rows[0].values == {"input": "café crème", "output": "très bien"}
    assert any("not UTF-8" in n for n in sniffed.notices)


def test_a_ragged_row_is_reported_with_its_line(tmp_path):
    _, rows = rows_of(write(tmp_path, "a.csv", "input,output\na,b\nc,d,e\nf,g\n"))
    assert [type(r) for r in rows] == [Row, Malformed, Row]
    assert rows[1].line == 3
    assert "3 fields, the header has 2" in rows[1].error


def test_duplicate_column_names_are_renamed_with_a_notice(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "a.csv", "text,text,label\na,b,c\n"))
    assert list(rows[0].values) == ["text", "text (2)", "label"]
    assert any("Two columns are named “text”" in n for n in sniffed.notices)


def test_a_ten_thousand_character_cell_is_read_whole(tmp_path):
    big = "word " * 2000
    _, rows = rows_of(write(tmp_path, "a.csv", f"input,output\nq,{big}\n"))
    assert rows[0].values["output"] == big


def test_it_reads_jsonl_and_reports_a_broken_line(tmp_path):
    content = '{"prompt": "a", "completion": "b"}\n{"prompt": "c", \n\n[1, 2]\n{"prompt": "d", "completion": "e"}\n'
    sniffed, rows = rows_of(write(tmp_path, "a.jsonl", content))
    assert sniffed.format == "jsonl"
    assert (
        isinstance(rows[1], Malformed) and rows[1].line == 2 and "not valid JSON" in rows[1].error
    )
    assert isinstance(rows[2], Malformed) and rows[2].line == 4 and "not an object" in rows[2].error
    assert rows[3].values == {"prompt": "d", "completion": "e"}


def test_it_reads_a_json_array_as_a_stream(tmp_path):
    data = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(50)]
    _, rows = rows_of(write(tmp_path, "a.json", json.dumps(data)))
    assert len(rows) == 50 and rows[49].values == {"instruction": "q49", "output": "a49"}


def test_it_accepts_a_wrapped_list(tmp_path):
    sniffed, rows = rows_of(
        write(tmp_path, "a.json", json.dumps({"version": 2, "data": [{"q": "a", "a": "b"}]}))
    )
    assert rows[0].values == {"q": "a", "a": "b"}
    assert any("“data”" in n for n in sniffed.notices)


def test_one_huge_object_is_refused(tmp_path):
    path = write(tmp_path, "a.json", json.dumps({f"k{i}": "v" * 100 for i in range(1000)}))
    with pytest.raises(DatasetFormatError, match="one object, not a list"):
        rows_of(path)


def test_invalid_json_is_refused(tmp_path):
    with pytest.raises(DatasetFormatError, match="not valid JSON"):
        rows_of(write(tmp_path, "a.json", '[{"a": 1}, {"a": '))


def nested(levels: int) -> str:
    """A row nesting ``levels`` levels of objects and lists, the row itself included."""
    inner = levels - 1
    return '{"q": ' + "[" * inner + '"deep"' + "]" * inner + ', "a": "b"}'


GOOD = '{"q": "hi", "a": "hello"}'


def test_a_jsonl_row_nested_too_deep_is_reported_with_its_line(tmp_path):
    lines = [GOOD, nested(10_000), nested(MAX_NESTING), nested(MAX_NESTING + 1), GOOD]
    sniffed, rows = rows_of(write(tmp_path, "a.jsonl", "\n".join(lines) + "\n"))
    assert sniffed.format == "jsonl"
    assert [type(r) for r in rows] == [Row, Malformed, Row, Malformed, Row]
    assert (rows[1].line, rows[1].error) == (2, TOO_DEEP)
    assert (rows[3].line, rows[3].error) == (4, TOO_DEEP)
    assert rows[4].values == {"q": "hi", "a": "hello"}


def test_a_first_line_too_deep_to_decode_is_read_as_json_lines(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "a.jsonl", nested(10_000) + "\n" + GOOD + "\n"))
    assert sniffed.format == "jsonl"
    assert [type(r) for r in rows] == [Malformed, Row] and rows[0].error == TOO_DEEP


def test_a_json_item_nested_too_deep_is_reported_and_the_rest_read(tmp_path):
    items = [GOOD, nested(10_000), nested(MAX_NESTING), nested(MAX_NESTING + 1), GOOD]
    _, rows = rows_of(write(tmp_path, "a.json", "[" + ",".join(items) + "]"))
    assert [type(r) for r in rows] == [Row, Malformed, Row, Malformed, Row]
    assert rows[1].error == f"item 2 {TOO_DEEP}" and rows[3].line == 4
    assert json.dumps(rows[2].values).count("[") == MAX_NESTING - 1
    # A wrapper whose other keys nest deep still gives its list.
    meta = '{"a": ' * 10_000 + "1" + "}" * 10_000
    wrapper = '{\n  "meta": ' + meta + ',\n  "data": [' + GOOD + "]\n}\n"
    sniffed, rows = rows_of(write(tmp_path, "b.json", wrapper))
    assert rows == [Row(1, {"q": "hi", "a": "hello"})]
    assert any("“data”" in n for n in sniffed.notices)


def test_brackets_nested_a_hundred_thousand_deep_are_read_in_bounded_memory(tmp_path):
    """ijson.items keeps a path string per level: this 200 KB file needed tens of GB."""
    depth = 100_000
    _, rows = rows_of(write(tmp_path, "a.json", "[" * depth + "]" * depth))
    assert rows == [Malformed(1, "item 1 is a JSON list, not an object")]


def test_it_reads_parquet_and_flattens_nested_columns(tmp_path):
    table = pa.table(
        {"question": ["q1", "q2"], "answer": ["a1", "a2"], "meta": [{"x": 1}, {"x": 2}]}
    )
    path = tmp_path / "a.parquet"
    pq.write_table(table, path)
    sniffed, rows = rows_of(path)
    assert sniffed.format == "parquet"
    assert rows[1].values["answer"] == "a2"
    assert json.loads(rows[0].values["meta"]) == {"x": 1}
    assert any("Nested columns (meta)" in n for n in sniffed.notices)


def test_parquet_chat_messages_stay_lists(tmp_path):
    table = pa.table(
        {
            "messages": [
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
            ]
        }
    )
    path = tmp_path / "chat.parquet"
    pq.write_table(table, path)
    _, rows = rows_of(path)
    assert rows[0].values["messages"][1] == {"role": "assistant", "content": "hello"}


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x1f\x8b\x08\x00rest", "gzip"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_unreadable_files_are_refused_precisely(tmp_path, content, code):
    with pytest.raises(DatasetFormatError) as error:
        rows_of(write(tmp_path, "a.csv", content, mode="wb"))
    assert error.value.code == code


def test_a_zip_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("inner.csv", "a,b\n1,2\n")
    with pytest.raises(DatasetFormatError, match="ZIP archive"):
        rows_of(path)


def test_a_file_that_claims_one_type_is_read_as_what_it_is(tmp_path):
    sniffed, rows = rows_of(write(tmp_path, "data.csv", '{"input": "a", "output": "b"}\n'))
    assert sniffed.format == "jsonl"
    assert rows[0].values == {"input": "a", "output": "b"}
    assert any("named .csv but contains JSONL" in n for n in sniffed.notices)


def test_a_header_only_csv_gives_no_rows(tmp_path):
    _, rows = rows_of(write(tmp_path, "a.csv", "input,output\n"))
    assert rows == []


def test_one_line_of_chat_is_one_jsonl_example_not_a_wrapper(tmp_path):
    """A single conversation on one line ({"messages": [...]}: one example, e.g. the one
    correction an endpoint has) is JSON Lines; a one-line {"data": [rows]} stays a document."""
    chat = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    sniffed, rows = rows_of(write(tmp_path, "one.jsonl", chat))
    assert sniffed.format == "jsonl" and len(rows) == 1
    assert rows[0].values["messages"][1]["content"] == "hello"
    sharegpt = '{"conversations": [{"from": "human", "value": "hi"}]}\n'
    assert rows_of(write(tmp_path, "two.jsonl", sharegpt))[0].format == "jsonl"
    wrapped = '{"data": [{"question": "a", "answer": "b"}]}\n'
    sniffed, rows = rows_of(write(tmp_path, "three.json", wrapped))
    assert sniffed.format == "json" and [r.values for r in rows] == [
        {"question": "a", "answer": "b"}
    ]
