"""Which OpenAI parameters the server behind an endpoint honours, and what it is sent.

Every parameter OpenAI's chat and legacy completion routes take is in one of the tables below,
per backend: ``YES`` goes to the server, which honours it; ``NO_EFFECT`` is accepted and not
sent (identifiers, OpenAI's storage options: docs/API.md says so); ``NO`` is refused with a
400 naming the parameter, unless its value asks nothing (``logprobs: false``, ``n: 1``, a
``text`` response format). Nothing is dropped silently: transformers serve logs "Ignoring
unsupported fields" and answers as if ``n``, ``response_format`` or ``logprobs`` had not been
sent, which a caller cannot tell from a real answer.

``n`` > 1 (and a list of prompts) on transformers serve, which answers one choice per request, is
honoured by sending one request per choice and merging the answers (``Plan.bodies``).
The tables are also the documentation's: tests/endpoints/test_parameters.py checks that
docs/API.md lists each parameter with the same verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .errors import ApiError
from .schemas import ChatCompletionRequest, CompletionRequest

YES, NO_EFFECT, NO = "yes", "accepted, no effect", "refused"


def _unset(value) -> bool:
    return value is None


def _falsy(value) -> bool:
    return not value


def _any(value) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    transformers: str
    vllm: str
    # Values that ask nothing of the server, accepted even where the parameter is refused.
    inert: Callable[[Any], bool] = _unset
    why: str = ""  # said when refused

    def verdict(self, backend: str) -> str:
        return self.vllm if backend == "vllm" else self.transformers


CPU = "this model's server (transformers on CPU) does not support it"
NOWHERE = "no model served here supports it"

_SHARED = {
    "model": Rule(YES, YES),
    "max_tokens": Rule(YES, YES),
    "temperature": Rule(YES, YES),
    "top_p": Rule(YES, YES),
    "n": Rule(YES, YES),  # transformers: one request per choice (see module docstring)
    "stop": Rule(YES, YES),
    "seed": Rule(YES, YES),
    "frequency_penalty": Rule(YES, YES),  # transformers: from 0 only (see ``_check_values``)
    "presence_penalty": Rule(NO, YES, lambda v: not v, CPU),
    "stream": Rule(YES, YES),
    "stream_options": Rule(YES, YES),
    "user": Rule(NO_EFFECT, NO_EFFECT, _any),
}

CHAT = _SHARED | {
    "messages": Rule(YES, YES),
    "max_completion_tokens": Rule(YES, YES),
    "logit_bias": Rule(YES, YES),
    "logprobs": Rule(NO, YES, _falsy, CPU),
    "top_logprobs": Rule(NO, YES, _unset, CPU),
    "response_format": Rule(
        NO, YES, lambda v: v is None or v.get("type") == "text", CPU + " (JSON mode)"
    ),
    "tools": Rule(NO, YES, _falsy, CPU + " (the model's chat template has no tools)"),
    "tool_choice": Rule(NO, YES, lambda v: v in (None, "none"), CPU),
    "parallel_tool_calls": Rule(NO, YES, _unset, CPU),
    "metadata": Rule(NO_EFFECT, NO_EFFECT, _any),
    "store": Rule(
        NO, NO, _falsy, "calls are kept in the endpoint's log, not as stored completions"
    ),
    "service_tier": Rule(
        NO_EFFECT, NO_EFFECT, lambda v: v in (None, "auto", "default"), "one tier is served"
    ),
    "safety_identifier": Rule(NO_EFFECT, NO_EFFECT, _any),
    "prompt_cache_key": Rule(NO_EFFECT, NO_EFFECT, _any),
    "modalities": Rule(NO_EFFECT, NO_EFFECT, lambda v: v in (None, ["text"]), "text only"),
    "reasoning_effort": Rule(NO, NO, _unset, NOWHERE),
    "verbosity": Rule(NO, NO, _unset, NOWHERE),
    "audio": Rule(NO, NO, _unset, NOWHERE + " (text only)"),
    "prediction": Rule(NO, NO, _unset, NOWHERE),
    "web_search_options": Rule(NO, NO, _unset, NOWHERE),
    "functions": Rule(NO, NO, _unset, "it is deprecated; send tools"),
    "function_call": Rule(NO, NO, _unset, "it is deprecated; send tool_choice"),
}

COMPLETIONS = _SHARED | {
    "prompt": Rule(YES, YES),
    "logit_bias": Rule(NO, YES, _falsy, CPU),
    "best_of": Rule(NO, NO, lambda v: v in (None, 1), NOWHERE),
    "echo": Rule(NO, YES, _falsy, CPU),
    "logprobs": Rule(NO, YES, _unset, CPU),
    "suffix": Rule(YES, NO, _unset, "vLLM does not support it"),
}

TABLES = {"chat": CHAT, "completions": COMPLETIONS}
assert set(CHAT) == set(ChatCompletionRequest.model_fields), "every chat parameter has a rule"
assert set(COMPLETIONS) == set(CompletionRequest.model_fields), "every completion parameter"


def unsupported(param: str, why: str) -> ApiError:
    return ApiError(
        400, f"'{param}' is not supported here: {why}.", "unsupported_parameter", param=param
    )


@dataclass
class Plan:
    """What goes upstream: one body, or one per choice when the server answers one at a time."""

    bodies: list[dict]
    copies: int = 1  # bodies per prompt when fanned out (n); 1 when the server takes n itself
    texts: list[str] = field(default_factory=list)  # every text of the prompt, for counting


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or part.get("refusal") or "" for part in content)


def _check_messages(messages: list[dict], backend: str) -> list[dict]:
    """Text parts only (the models served here read text); on transformers, contents as
    strings (its chat templates concatenate them) and no tool turns."""
    out = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") not in ("text", "refusal"):
                    raise unsupported(
                        f"messages.{index}.content", f"the model reads text, not {part['type']}"
                    )
        if backend != "vllm":
            if message["role"] == "tool" or message.get("tool_calls"):
                raise unsupported(f"messages.{index}", CPU + " (tool turns)")
            if isinstance(content, list):
                message = {**message, "content": _text_of(content)}
        out.append(message)
    return out


def _check_values(kind: str, parsed, backend: str) -> None:
    if backend != "vllm" and (parsed.frequency_penalty or 0) < 0:
        raise unsupported(
            "frequency_penalty", CPU + " below 0 (it becomes a repetition penalty of 1 + value)"
        )
    if parsed.stream and backend != "vllm" and _choices(kind, parsed) > 1:
        param = "n" if (parsed.n or 1) > 1 else "prompt"
        raise unsupported(param, CPU + " in a stream (one answer at a time): ask without stream")
    if kind == "completions" and backend != "vllm" and not _prompt_texts(parsed.prompt):
        raise unsupported("prompt", CPU + " (token ids): send text")


def _prompt_texts(prompt) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(item, str) for item in prompt):
        return list(prompt)
    return []  # token ids


def _choices(kind: str, parsed) -> int:
    prompts = len(_prompt_texts(parsed.prompt)) or 1 if kind == "completions" else 1
    return (parsed.n or 1) * prompts


def plan(kind: str, parsed, payload: dict, backend: str) -> Plan:
    """The body (or bodies) to send, or a 400 for what the backend cannot honour."""
    table = TABLES[kind]
    body = {}
    sent = parsed.model_fields_set
    for name, rule in table.items():  # in the table's order: the same body names the same one
        if name not in sent:
            continue
        value = payload.get(name)
        verdict = rule.verdict(backend)
        if verdict == NO and not rule.inert(value):
            raise unsupported(name, rule.why)
        if verdict == NO_EFFECT and not rule.inert(value):
            raise unsupported(name, rule.why)
        if verdict == YES and value is not None:
            body[name] = value
    _check_values(kind, parsed, backend)
    choices = _choices(kind, parsed)
    if choices > settings.GATEWAY_MAX_N:
        raise ApiError(
            400,
            f"This call asks for {choices} answers; at most {settings.GATEWAY_MAX_N} per call.",
            "invalid_value",
            param="n",
        )
    if kind == "chat":
        body["messages"] = _check_messages(payload["messages"], backend)
        texts = [_text_of(m.get("content") or "") for m in body["messages"]]
    else:
        texts = _prompt_texts(parsed.prompt)
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
        body["max_tokens"] = settings.GATEWAY_DEFAULT_MAX_TOKENS
    if backend == "vllm":
        return Plan([body], texts=texts)
    if choices == 1:
        if kind == "completions":
            body["prompt"] = texts[0]  # transformers serve takes one prompt, as a string
        return Plan([body], texts=texts)
    return Plan(_one_per_choice(kind, body, parsed), parsed.n or 1, texts=texts)


def _one_per_choice(kind: str, body: dict, parsed) -> list[dict]:
    prompts = _prompt_texts(parsed.prompt) if kind == "completions" else [None]
    bodies = []
    for prompt in prompts:
        for copy in range(parsed.n or 1):
            one = {k: v for k, v in body.items() if k != "n"}
            if prompt is not None:
                one["prompt"] = prompt
            if parsed.seed is not None:  # the same seed would give n identical answers
                seed = parsed.seed + copy
                one["seed"] = seed if seed < 2**63 else parsed.seed - copy
            bodies.append(one)
    return bodies


def merge(kind: str, answers: list[dict], copies: int) -> dict:
    """One answer of many choices, as a server that takes ``n`` gives it. ``answers`` are in
    the order of ``Plan.bodies``: ``copies`` per prompt."""
    merged = dict(answers[0])
    choices = []
    for index, answer in enumerate(answers):
        choice = dict((answer.get("choices") or [{}])[0])
        choice["index"] = index
        choices.append(choice)

    def used(answer, what):
        return int((answer.get("usage") or {}).get(what) or 0)

    completion = sum(used(answer, "completion_tokens") for answer in answers)
    # Each prompt is counted once, however many choices were asked of it (as OpenAI bills).
    prompt = sum(used(answer, "prompt_tokens") for answer in answers[::copies])
    merged["choices"] = choices
    merged["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return merged
