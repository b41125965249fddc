import pytest

from apps.datasets.records import RecordError, render_template, to_record


def test_alpaca_with_empty_input_drops_the_blank_part():
    mapping = {
        "kind": "columns",
        "inputs": ["instruction", "input"],
        "output": "output",
        "template": "{instruction}\n\n{input}",
    }
    assert to_record({"instruction": "Say hi", "input": "", "output": "Hi"}, mapping) == [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hi"},
    ]
    assert (
        to_record({"instruction": "Translate", "input": "Hello", "output": "Bonjour"}, mapping)[0][
            "content"
        ]
        == "Translate\n\nHello"
    )


def test_an_edited_template_is_used():
    assert (
        render_template("Context: {context}\nQuestion: {q}", {"context": "Paris", "q": "Capital?"})
        == "Context: Paris\nQuestion: Capital?"
    )


def test_a_system_column_becomes_the_system_message():
    mapping = {"kind": "columns", "inputs": ["q"], "output": "a", "system": "s", "template": "{q}"}
    assert to_record({"q": "hi", "a": "yo", "s": "Be brief."}, mapping)[0] == {
        "role": "system",
        "content": "Be brief.",
    }


@pytest.mark.parametrize(
    "row, message",
    [
        ({"q": "", "a": "x"}, "input is empty"),
        ({"q": "x", "a": None}, "output is empty"),
        ({"q": "x", "a": float("nan")}, "output is empty"),
    ],
)
def test_empty_parts_are_refused(row, message):
    with pytest.raises(RecordError, match=message):
        to_record(row, {"kind": "columns", "inputs": ["q"], "output": "a", "template": "{q}"})


def test_sharegpt_roles_are_mapped():
    row = {
        "conversations": [
            {"from": "system", "value": "Be kind"},
            {"from": "human", "value": "hi"},
            {"from": "gpt", "value": "hello"},
        ]
    }
    assert [
        m["role"] for m in to_record(row, {"kind": "sharegpt", "inputs": ["conversations"]})
    ] == ["system", "user", "assistant"]


def test_chat_must_end_with_an_assistant_reply():
    with pytest.raises(RecordError, match="assistant reply"):
        to_record(
            {"messages": [{"role": "user", "content": "hi"}]},
            {"kind": "messages", "inputs": ["messages"]},
        )
