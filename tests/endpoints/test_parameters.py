"""Which OpenAI parameters reach the model's server, per backend (gateway/parameters.py), the
checks before that (gateway/schemas.py), and docs/API.md's tables, which must say the same.

Plain function tests: no database, no server."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from apps.endpoints.gateway import parameters, schemas
from apps.endpoints.gateway.errors import ApiError
from apps.endpoints.gateway.parameters import NO, NO_EFFECT, YES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "API.md"
ROUTES = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
SCHEMAS = {"chat": schemas.ChatCompletionRequest, "completions": schemas.CompletionRequest}
BACKENDS = ["transformers", "vllm"]
MESSAGES = [{"role": "user", "content": "where is my invoice"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def body(kind: str, **fields) -> dict:
    base = {"model": "support-bot"}
    base |= {"messages": copy.deepcopy(MESSAGES)} if kind == "chat" else {"prompt": "how do i"}
    return base | fields


def plan(kind: str, payload: dict, backend: str = "transformers") -> parameters.Plan:
    return parameters.plan(kind, schemas.parse(SCHEMAS[kind], payload), payload, backend)


def refusal(kind: str, payload: dict, backend: str = "transformers") -> ApiError:
    with pytest.raises(ApiError) as caught:
        plan(kind, payload, backend)
    return caught.value


# ----- docs/API.md lists exactly the code's tables -----


def documented(route: str) -> dict[str, tuple[str, str]]:
    """The rows of the table under "### Parameters of `<route>`": name → (transformers, vllm)."""
    lines = DOCS.read_text().splitlines()
    start = lines.index(f"### Parameters of `{route}`")
    rows: dict[str, tuple[str, str]] = {}
    header = None
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        name = cells[0].strip("`")
        assert name not in rows, f"{name} is listed twice under {route}"
        rows[name] = (cells[1], cells[2])
    assert header is not None and header[1:3] == ["transformers (CPU)", "vLLM (GPU)"], header
    return rows


@pytest.mark.parametrize("kind", ["chat", "completions"])
def test_the_docs_list_every_parameter_of_the_code(kind):
    table = parameters.TABLES[kind]
    docs = documented(ROUTES[kind])
    assert sorted(set(table) - set(docs)) == [], "in the code, missing from docs/API.md"
    assert sorted(set(docs) - set(table)) == [], "in docs/API.md, not in the code"


@pytest.mark.parametrize("kind", ["chat", "completions"])
def test_the_docs_give_each_parameter_the_codes_verdicts(kind):
    docs = documented(ROUTES[kind])
    wrong = {
        name: {"docs": docs[name], "code": (rule.transformers, rule.vllm)}
        for name, rule in parameters.TABLES[kind].items()
        if docs.get(name, (rule.transformers, rule.vllm)) != (rule.transformers, rule.vllm)
    }
    assert wrong == {}


# ----- refusals name their parameter -----

# A value of each parameter that asks for something (not inert), with what the schema needs
# beside it (top_logprobs needs logprobs; tool_choice needs tools).
ASKING = {
    "chat": {
        "presence_penalty": {"presence_penalty": 0.5},
        "logprobs": {"logprobs": True},
        "top_logprobs": {"logprobs": True, "top_logprobs": 2},
        "response_format": {"response_format": {"type": "json_object"}},
        "tools": {"tools": [TOOL]},
        "tool_choice": {"tools": [TOOL], "tool_choice": "auto"},
        "parallel_tool_calls": {"tools": [TOOL], "parallel_tool_calls": False},
        "store": {"store": True},
        "service_tier": {"service_tier": "flex"},
        "modalities": {"modalities": ["text", "audio"]},
        "reasoning_effort": {"reasoning_effort": "low"},
        "verbosity": {"verbosity": "low"},
        "audio": {"audio": {"voice": "alloy", "format": "wav"}},
        "prediction": {"prediction": {"type": "content", "content": "x"}},
        "web_search_options": {"web_search_options": {}},
        "functions": {"functions": [{"name": "lookup"}]},
        "function_call": {"function_call": "auto"},
    },
    "completions": {
        "presence_penalty": {"presence_penalty": 0.5},
        "logit_bias": {"logit_bias": {"42": 5}},
        "best_of": {"best_of": 2},
        "echo": {"echo": True},
        "logprobs": {"logprobs": 1},
        "suffix": {"suffix": " thanks"},
    },
}


def _refusable():
    """Every (route, backend, parameter) the tables refuse, or accept with no effect but refuse
    when the value asks for something."""
    for kind, table in parameters.TABLES.items():
        for backend in BACKENDS:
            for name, rule in table.items():
                if rule.verdict(backend) == NO or name in ASKING[kind]:
                    yield pytest.param(kind, backend, name, id=f"{kind}-{backend}-{name}")


@pytest.mark.parametrize("kind, backend, name", list(_refusable()))
def test_a_refusal_names_its_parameter(kind, backend, name):
    rule = parameters.TABLES[kind][name]
    assert name in ASKING[kind], f"give ASKING a value of {name} that asks for something"
    fields = ASKING[kind][name]
    payload = body(kind, **fields)
    if rule.verdict(backend) == YES:
        assert name in plan(kind, payload, backend).bodies[0]
        return
    error = refusal(kind, payload, backend)
    assert (error.status, error.code) == (400, "unsupported_parameter")
    if len(fields) == 1:
        assert error.param == name and f"'{name}'" in error.message
    else:  # two refused parameters together: either may be named first
        assert error.param in fields and f"'{error.param}'" in error.message


INERT = {
    "chat": [
        ("presence_penalty", 0),
        ("logprobs", False),
        ("response_format", {"type": "text"}),
        ("tools", []),
        ("store", False),
        ("service_tier", "auto"),
        ("service_tier", "default"),
        ("modalities", ["text"]),
        ("user", "customer-17"),
        ("metadata", {"ticket": "T-9"}),
        ("safety_identifier", "hash-of-user"),
        ("prompt_cache_key", "faq"),
        ("reasoning_effort", None),
        ("functions", None),
        ("n", 1),
    ],
    "completions": [
        ("presence_penalty", 0),
        ("logit_bias", {}),
        ("best_of", 1),
        ("echo", False),
        ("logprobs", None),
        ("user", "customer-17"),
        ("n", 1),
    ],
}


@pytest.mark.parametrize(
    "kind, name, value",
    [(kind, name, value) for kind, pairs in INERT.items() for name, value in pairs],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_that_asks_nothing_is_accepted(kind, name, value, backend):
    sent = plan(kind, body(kind, **{name: value}), backend).bodies[0]
    if parameters.TABLES[kind][name].verdict(backend) != YES:
        assert name not in sent  # accepted, and not sent where the server would ignore it


def test_a_parameter_accepted_with_no_effect_is_not_sent():
    payload = body("chat", user="u-1", metadata={"a": "b"}, safety_identifier="s")
    assert set(plan("chat", payload).bodies[0]) == {"model", "messages", "max_tokens"}


def test_the_parameters_a_server_honours_are_sent():
    payload = body("chat", temperature=0.2, top_p=0.9, stop=["\n"], seed=3, max_completion_tokens=5)
    sent = plan("chat", payload).bodies[0]
    assert {k: sent[k] for k in ("temperature", "top_p", "stop", "seed")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 3,
    }
    assert sent["max_completion_tokens"] == 5 and "max_tokens" not in sent


def test_vllm_takes_what_transformers_refuses():
    payload = body("chat", logprobs=True, top_logprobs=2, response_format={"type": "json_object"})
    sent = plan("chat", payload, "vllm").bodies[0]
    assert sent["logprobs"] is True and sent["response_format"] == {"type": "json_object"}


def test_max_tokens_has_a_default():
    assert plan("chat", body("chat")).bodies[0]["max_tokens"] == 256


# ----- values one backend cannot honour -----


def test_a_negative_frequency_penalty_is_refused_on_transformers_only():
    payload = body("chat", frequency_penalty=-0.5)
    assert refusal("chat", payload).param == "frequency_penalty"
    assert plan("chat", payload, "vllm").bodies[0]["frequency_penalty"] == -0.5


def test_n_in_a_stream_is_refused_on_transformers_only():
    payload = body("chat", n=2, stream=True)
    assert refusal("chat", payload).param == "n"
    assert plan("chat", payload, "vllm").bodies == [payload | {"max_tokens": 256}]


def test_token_id_prompts_are_refused_on_transformers_only():
    payload = body("completions", prompt=[1, 2, 3])
    assert refusal("completions", payload).param == "prompt"
    assert plan("completions", payload, "vllm").bodies[0]["prompt"] == [1, 2, 3]


def test_an_image_is_refused_by_its_message():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    payload = body("chat", messages=[{"role": "user", "content": [image]}])
    for backend in BACKENDS:
        error = refusal("chat", payload, backend)
        assert error.param == "messages.0.content" and "image_url" in error.message


def test_a_tool_turn_is_refused_on_transformers_only():
    payload = body(
        "chat",
        messages=MESSAGES + [{"role": "tool", "content": "{}", "tool_call_id": "call_1"}],
    )
    assert refusal("chat", payload).param == "messages.1"
    assert plan("chat", payload, "vllm").bodies[0]["messages"][1]["role"] == "tool"


def test_text_parts_reach_transformers_as_one_string():
    parts = [{"type": "text", "text": "where is "}, {"type": "text", "text": "my invoice"}]
    payload = body("chat", messages=[{"role": "user", "content": parts}])
    assert plan("chat", payload).bodies[0]["messages"][0]["content"] == "where is my invoice"
    assert plan("chat", payload, "vllm").bodies[0]["messages"][0]["content"] == parts


def test_a_one_prompt_list_reaches_transformers_as_a_string():
    assert plan("completions", body("completions", prompt=["how do i"])).bodies == [
        {"model": "support-bot", "prompt": "how do i", "max_tokens": 256}
    ]


# ----- the checks before: schemas.parse -----


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(ApiError) as caught:
        schemas.parse(schemas.ChatCompletionRequest, body("chat", generation_config="{}"))
    error = caught.value
    assert (error.status, error.code, error.param) == (
        400,
        "unknown_parameter",
        "generation_config",
    )
    assert error.message == "Unrecognized request argument supplied: generation_config"


def test_an_unknown_field_inside_a_message_is_named_by_its_place():
    messages = [{"role": "user", "content": "hi", "mood": "cross"}]
    with pytest.raises(ApiError) as caught:
        schemas.parse(schemas.ChatCompletionRequest, body("chat", messages=messages))
    assert caught.value.param == "messages.0.mood"


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", 2.5),
        ("temperature", "0.7"),  # strict: no strings for numbers
        ("top_p", 1.5),
        ("n", 5),
        ("max_tokens", 0),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("logit_bias", {"not-a-token": 1}),
    ],
)
def test_a_value_out_of_range_is_refused_by_name(field, value):
    with pytest.raises(ApiError) as caught:
        schemas.parse(schemas.ChatCompletionRequest, body("chat", **{field: value}))
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "invalid_value", field)
    assert f"'{field}'" in error.message


def test_a_bad_user_is_refused_by_name():
    with pytest.raises(ApiError) as caught:
        schemas.parse(schemas.ChatCompletionRequest, body("chat", user=5))
    assert caught.value.param == "user"


def test_too_many_answers_for_the_prompts_is_refused():
    payload = body("completions", prompt=["a", "b", "c"], n=2)
    error = refusal("completions", payload, "vllm")
    assert (error.code, error.param) == ("invalid_value", "n") and "6 answers" in error.message


# ----- n on transformers: one request per choice, merged -----


def test_n_fans_out_one_body_per_choice_with_distinct_seeds():
    planned = plan("chat", body("chat", n=3, seed=7, temperature=0.9))
    assert planned.copies == 3 and len(planned.bodies) == 3
    assert [b["seed"] for b in planned.bodies] == [7, 8, 9]
    assert all("n" not in b and b["temperature"] == 0.9 for b in planned.bodies)
    assert all(b["messages"] == MESSAGES for b in planned.bodies)


def test_n_without_a_seed_sends_no_seed():
    planned = plan("chat", body("chat", n=2))
    assert len(planned.bodies) == 2 and all("seed" not in b for b in planned.bodies)


def test_n_seeds_stay_64_bit():
    planned = plan("chat", body("chat", n=2, seed=2**63 - 1))
    seeds = [b["seed"] for b in planned.bodies]
    assert len(set(seeds)) == 2 and all(0 <= s < 2**63 for s in seeds)


def test_n_and_several_prompts_fan_out_per_prompt_as_strings():
    planned = plan("completions", body("completions", prompt=["a", "b"], n=2, seed=1))
    assert planned.copies == 2
    assert [(b["prompt"], b["seed"]) for b in planned.bodies] == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]


def test_vllm_takes_n_itself():
    planned = plan("chat", body("chat", n=3, seed=7), "vllm")
    assert len(planned.bodies) == 1 and planned.bodies[0]["n"] == 3


def _answer(text: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def test_merge_counts_the_prompt_once_and_every_answer():
    answers = [_answer("one", 10, 3), _answer("two", 10, 4), _answer("three", 10, 5)]
    merged = parameters.merge("chat", answers, copies=3)
    assert [c["index"] for c in merged["choices"]] == [0, 1, 2]
    assert [c["message"]["content"] for c in merged["choices"]] == ["one", "two", "three"]
    assert merged["usage"] == {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}


def test_merge_counts_each_prompt_once():
    # Two prompts, two choices each, in Plan.bodies' order: a, a, b, b.
    answers = [_answer("a1", 4, 2), _answer("a2", 4, 3), _answer("b1", 7, 1), _answer("b2", 7, 2)]
    merged = parameters.merge("completions", answers, copies=2)
    assert [c["index"] for c in merged["choices"]] == [0, 1, 2, 3]
    assert merged["usage"] == {"prompt_tokens": 11, "completion_tokens": 8, "total_tokens": 19}


def test_merge_does_not_change_the_answers():
    answers = [_answer("one", 10, 3), _answer("two", 10, 4)]
    before = copy.deepcopy(answers)
    parameters.merge("chat", answers, copies=2)
    assert answers == before


def test_the_tables_use_only_the_three_verdicts():
    verdicts = {
        v for t in parameters.TABLES.values() for r in t.values() for v in (r.transformers, r.vllm)
    }
    assert verdicts <= {YES, NO_EFFECT, NO}
