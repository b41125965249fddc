import pytest

from apps.datasets.detection import MANUAL_BELOW, normalise, propose


def rows(columns, *values):
    return [dict(zip(columns, v, strict=True)) for v in values]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("customerMessage", "customer message"),
        ("Customer_Message", "customer message"),
        ("support-reply ", "support reply"),
        ("TEXT.INPUT", "text input"),
    ],
)
def test_it_normalises_names(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "input_col, output_col",
    [
        ("instruction", "response"),
        ("Question", "Answer"),
        ("prompt", "completion"),
        ("user_message", "assistant_message"),
        ("text_input", "text_output"),
        ("input", "output"),
        ("customer_message", "support_reply"),
        ("CustomerMessage", "SupportReply"),
    ],
)
def test_it_maps_known_names_with_high_confidence(input_col, output_col):
    cols = ["id", input_col, output_col, "timestamp"]
    proposal = propose(
        cols, rows(cols, ("1", "How do I log in?", "Click Log in.", "2026-01-01T10:00:00Z"))
    )
    assert proposal.inputs == [input_col]
    assert proposal.output == output_col
    assert proposal.confidence >= 0.85
    assert set(proposal.ignored) == {"id", "timestamp"}
    assert not proposal.needs_manual


def test_alpaca_maps_instruction_and_input_to_the_input():
    cols = ["instruction", "input", "output"]
    proposal = propose(
        cols, rows(cols, ("Translate to French", "Good morning", "Bonjour"), ("Say hi", "", "Hi"))
    )
    assert proposal.inputs == ["instruction", "input"]
    assert proposal.output == "output"
    assert proposal.template == "{instruction}\n\n{input}"
    assert proposal.confidence >= 0.9


def test_dolly_maps_instruction_and_context():
    cols = ["instruction", "context", "response", "category"]
    proposal = propose(cols, rows(cols, ("Summarise", "Long text", "Short", "summarization")))
    assert proposal.inputs == ["instruction", "context"] and proposal.output == "response"
    assert proposal.ignored == ["category"]


def test_a_system_prompt_column_is_used():
    cols = ["system_prompt", "question", "answer"]
    proposal = propose(cols, rows(cols, ("You are terse.", "Hi?", "Hi.")))
    assert proposal.system == "system_prompt"


def test_openai_chat_needs_no_mapping():
    cols = ["messages"]
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    proposal = propose(cols, [{"messages": chat}])
    assert proposal.kind == "messages" and proposal.confidence > 0.9


def test_sharegpt_needs_no_mapping():
    proposal = propose(
        ["conversations", "id"],
        [
            {
                "id": "1",
                "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
            }
        ],
    )
    assert proposal.kind == "sharegpt" and proposal.ignored == ["id"]


def test_unknown_names_fall_back_to_content_and_ask_for_confirmation():
    cols = ["col_a", "col_b", "ts"]
    data = rows(
        cols,
        (
            "Where is my parcel?",
            "Your parcel left our warehouse yesterday and should arrive within two days.",
            "2026-01-01",
        ),
        (
            "Can I pay by card?",
            "Yes, we accept all major credit and debit cards at checkout.",
            "2026-01-02",
        ),
    )
    proposal = propose(cols, data)
    assert proposal.inputs == ["col_a"] and proposal.output == "col_b"
    assert proposal.confidence < MANUAL_BELOW
    assert proposal.ignored == ["ts"]
    assert proposal.reasons["ts"] == "holds dates or timestamps"


def test_one_telling_name_raises_the_confidence():
    cols = ["ticket", "notes"]
    data = rows(
        cols,
        (
            "My invoice is wrong?",
            "We corrected the invoice and sent a new copy to your e-mail address.",
        ),
    )
    proposal = propose(cols, data)
    assert proposal.inputs == ["ticket"] and proposal.output == "notes"


def test_a_single_text_column_cannot_be_mapped():
    proposal = propose(["id", "text"], rows(["id", "text"], ("1", "just some text here")))
    assert proposal.output is None and proposal.confidence < MANUAL_BELOW
