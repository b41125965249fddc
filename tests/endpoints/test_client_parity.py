"""The clients people call OpenAI-compatible APIs with, unchanged, against an endpoint deployed on
the CPU server (transformers serve) and served by Daphne: the official `openai` client,
LangChain's ChatOpenAI and LiteLLM. What they send must be taken, what the server cannot honour
must be refused by name, and what they read (usage, choices, headers) must be there.

Every call asks for a few tokens: the model is real and runs on the CPU."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

pytestmark = pytest.mark.e2e

FEW = 6  # tokens per answer
ASK = [{"role": "user", "content": "where is my invoice"}]
TOOL = {
    "type": "function",
    "function": {"name": "find_invoice", "parameters": {"type": "object", "properties": {}}},
}
RATE_LIMIT_HEADERS = [
    f"x-ratelimit-{what}-{unit}"
    for unit in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
]


@pytest.fixture
def openai_client(live_server_url, api_key) -> OpenAI:
    # No retries: a refusal must reach the test as it was given.
    return OpenAI(base_url=f"{live_server_url}/v1", api_key=api_key, max_retries=0)


def refused(call, **kwargs) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call(**kwargs)
    return caught.value


def _answers(openai_client, name):
    create = openai_client.chat.completions.create

    chat = create(model=name, messages=ASK, max_tokens=FEW)
    assert chat.model == name and chat.choices[0].message.role == "assistant"
    assert chat.choices[0].finish_reason in ("stop", "length")
    assert 0 < chat.usage.completion_tokens <= FEW

    chunks = list(
        create(
            model=name,
            messages=ASK,
            max_tokens=FEW,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and all(c.model == name for c in chunks)

    two = create(model=name, messages=ASK, max_tokens=FEW, n=2, seed=11, temperature=1.0)
    assert [c.index for c in two.choices] == [0, 1]
    assert all(c.message.role == "assistant" for c in two.choices)
    assert two.usage.completion_tokens == two.usage.total_tokens - two.usage.prompt_tokens
    # The prompt counted once (two answers of one prompt), as OpenAI bills.
    assert two.usage.prompt_tokens == chat.usage.prompt_tokens

    raw = openai_client.chat.completions.with_raw_response.create(
        model=name, messages=ASK, max_tokens=FEW
    )
    request_id = raw.headers["x-request-id"]
    assert raw.parse().id == "chatcmpl-" + request_id.replace("-", "")
    limits = {header: raw.headers.get(header) for header in RATE_LIMIT_HEADERS}
    assert None not in limits.values(), limits
    assert (
        0
        <= int(limits["x-ratelimit-remaining-requests"])
        < int(limits["x-ratelimit-limit-requests"])
    )
    assert limits["x-ratelimit-reset-requests"].endswith("s")


REFUSED_ON_CPU = {
    "response_format": {"response_format": {"type": "json_object"}},
    "logprobs": {"logprobs": True},
    "tools": {"tools": [TOOL]},
}


def _refuses_what_the_cpu_server_cannot_honour(openai_client, model):
    for name, asking in REFUSED_ON_CPU.items():
        error = refused(
            openai_client.chat.completions.create,
            model=model,
            messages=ASK,
            max_tokens=FEW,
            **asking,
        )
        assert (error.code, error.param) == ("unsupported_parameter", name)
        assert f"'{name}'" in error.message
        # Refused after the key's limits were applied: the limits are on the answer too.
        assert error.response.headers["x-request-id"]
        assert error.response.headers["x-ratelimit-limit-requests"]


def _refuses_what_openai_does_not_know(openai_client, name):
    error = refused(
        openai_client.chat.completions.create,
        model=name,
        messages=ASK,
        max_tokens=FEW,
        extra_body={"generation_config": "{}"},
    )
    assert "Unrecognized request argument supplied: generation_config" in error.message
    assert (error.code, error.param) == ("unknown_parameter", "generation_config")

    error = refused(
        openai_client.chat.completions.create,
        model=name,
        messages=ASK,
        max_tokens=FEW,
        temperature=3,
    )
    assert (error.code, error.param) == ("invalid_value", "temperature")
    assert error.response.headers["x-request-id"]


def _langchain(live_server_url, api_key, name):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=f"{live_server_url}/v1",
        api_key=api_key,
        model=name,
        max_tokens=FEW,
        max_retries=0,
        stream_usage=True,
    )
    answer = chat.invoke("where is my invoice")
    assert isinstance(answer.content, str)
    assert answer.response_metadata["model_name"] == name
    assert 0 < answer.usage_metadata["output_tokens"] <= FEW

    chunks = list(chat.stream("where is my invoice"))
    assert chunks and all(isinstance(c.content, str) for c in chunks)
    whole = sum(chunks[1:], chunks[0])
    assert whole.usage_metadata["output_tokens"] > 0  # the usage chunk came through


def _litellm(live_server_url, api_key, name):
    import litellm

    call = {
        "model": f"openai/{name}",
        "api_base": f"{live_server_url}/v1",
        "api_key": api_key,
        "messages": ASK,
        "max_tokens": FEW,
        "num_retries": 0,
    }
    answer = litellm.completion(**call)
    assert isinstance(answer.choices[0].message.content, str)
    assert 0 < answer.usage.completion_tokens <= FEW

    chunks = list(litellm.completion(**call, stream=True, stream_options={"include_usage": True}))
    assert chunks
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(text, str)
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and usage[-1].completion_tokens > 0


# Two tests rather than one per client: each test deploys the model again, in a process of its
# own (about 1.3 GB) that the suite's inference server keeps for an hour.


def test_the_openai_client_answers_and_refuses_as_openai_does(openai_client, deployed):
    name = deployed.endpoint.name
    _answers(openai_client, name)
    _refuses_what_the_cpu_server_cannot_honour(openai_client, name)
    _refuses_what_openai_does_not_know(openai_client, name)


def test_langchain_and_litellm_work_unchanged(live_server_url, deployed, api_key, monkeypatch):
    # LiteLLM fetches its model price map from GitHub when imported, unless told not to.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_TELEMETRY", "False")
    _langchain(live_server_url, api_key, deployed.endpoint.name)
    _litellm(live_server_url, api_key, deployed.endpoint.name)
