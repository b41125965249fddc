"""What a request body may hold, checked with pydantic before anything is sent upstream.

The OpenAI routes take OpenAI's parameters and nothing else: an unknown field is a 400 that names
it, as OpenAI answers, instead of reaching the inference server (transformers serve takes
``generation_config``, a JSON of ``generate()`` arguments, which would let one caller set beam
search or a million new tokens for a server every team shares). Types are strict ("0.7" is not
a temperature) and ranges are OpenAI's, or tighter where a shared CPU server needs it (``n``,
``stop``, messages). Whether the server behind the endpoint can honour a valid parameter is the
next question, answered per backend by ``parameters.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..models import MAX_LOGGED_CHARS
from .errors import ApiError

INT64 = 2**63
MAX_STOP = 4  # OpenAI's own limit
MAX_STOP_CHARS = 200
MAX_TOOLS = 128
MAX_LOGIT_BIAS = 300
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

Strict = ConfigDict(extra="forbid", strict=True)
ShortText = Annotated[str, StringConstraints(max_length=512)]


def _max_tokens_ok(value: int | None) -> int | None:
    if value is None:
        return value
    if value <= 0:
        raise ValueError("must be at least 1")
    if value > settings.GATEWAY_MAX_TOKENS:
        raise ValueError(f"must be at most {settings.GATEWAY_MAX_TOKENS}")
    return value


def _no_nul(value: str | None) -> str | None:
    # The name is looked up in PostgreSQL, which refuses NUL in text (that was a 500).
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _n_ok(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= settings.GATEWAY_MAX_N:
        raise ValueError(f"must be between 1 and {settings.GATEWAY_MAX_N}")
    return value


def _stop_ok(value):
    if value is None:
        return value
    stops = [value] if isinstance(value, str) else value
    if len(stops) > MAX_STOP:
        raise ValueError(f"takes at most {MAX_STOP} sequences")
    for stop in stops:
        if not stop or len(stop) > MAX_STOP_CHARS:
            raise ValueError(f"sequences must be 1 to {MAX_STOP_CHARS} characters")
    return value


def _logit_bias_ok(value: dict | None) -> dict | None:
    if value is None:
        return value
    if len(value) > MAX_LOGIT_BIAS:
        raise ValueError(f"takes at most {MAX_LOGIT_BIAS} tokens")
    for token, bias in value.items():
        if not token.isdigit():
            raise ValueError(f"keys must be token ids (integers as strings), not {token[:20]!r}")
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -100 <= bias <= 100:
            raise ValueError("values must be numbers from -100 to 100")
    return value


def _function_name_ok(value: str) -> str:
    if not FUNCTION_NAME.match(value):
        raise ValueError("must be 1 to 64 letters, digits, underscores or dashes")
    return value


# ----- messages -----


class TextPart(BaseModel):
    model_config = Strict
    type: Literal["text"]
    text: str


class OtherPart(BaseModel):
    """Images, audio and files: valid OpenAI, refused by ``parameters`` (text models here)."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["image_url", "input_audio", "file", "refusal"]


Part = Annotated[TextPart | OtherPart, Field(discriminator="type")]
Content = str | Annotated[list[Part], Field(min_length=1)]


class FunctionCall(BaseModel):
    model_config = Strict
    name: str
    arguments: str


class ToolCall(BaseModel):
    model_config = Strict
    id: str
    type: Literal["function"]
    function: FunctionCall


class SystemMessage(BaseModel):
    model_config = Strict
    role: Literal["system", "developer"]
    content: Content
    name: ShortText | None = None


class UserMessage(BaseModel):
    model_config = Strict
    role: Literal["user"]
    content: Content
    name: ShortText | None = None


class AssistantMessage(BaseModel):
    model_config = Strict
    role: Literal["assistant"]
    content: Content | None = None
    name: ShortText | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None

    @model_validator(mode="after")
    def _says_something(self):
        if self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(BaseModel):
    model_config = Strict
    role: Literal["tool"]
    content: Content
    tool_call_id: str


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


# ----- tools and formats -----


class FunctionDefinition(BaseModel):
    model_config = Strict
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    _check_name = field_validator("name")(lambda cls, v: _function_name_ok(v))


class Tool(BaseModel):
    model_config = Strict
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = Strict
    name: str


class NamedToolChoice(BaseModel):
    model_config = Strict
    type: Literal["function"]
    function: NamedFunction


class JsonSchema(BaseModel):
    model_config = Strict
    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    _check_name = field_validator("name")(lambda cls, v: _function_name_ok(v))


class ResponseFormat(BaseModel):
    model_config = Strict
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_with_json_schema(self):
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required with type json_schema, and only with it")
        return self


class StreamOptions(BaseModel):
    model_config = Strict
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


# ----- the routes -----


class _Sampling(BaseModel):
    """What both OpenAI generation routes take."""

    model_config = Strict
    model: str = Field(min_length=1, max_length=200)
    max_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-INT64, lt=INT64)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float | int] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)

    _check_model = field_validator("model")(lambda cls, v: _no_nul(v))
    _check_max = field_validator("max_tokens")(lambda cls, v: _max_tokens_ok(v))
    _check_n = field_validator("n")(lambda cls, v: _n_ok(v))
    _check_stop = field_validator("stop")(lambda cls, v: _stop_ok(v))
    _check_bias = field_validator("logit_bias")(lambda cls, v: _logit_bias_ok(v))

    @model_validator(mode="after")
    def _options_need_stream(self):
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self


class ChatCompletionRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # Accepted and without effect here (documented): identifiers and OpenAI's storage options.
    metadata: dict[Annotated[str, StringConstraints(max_length=64)], ShortText] | None = Field(
        default=None, max_length=16
    )
    store: bool | None = None
    service_tier: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=64)
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    modalities: list[Literal["text", "audio"]] | None = None
    # Valid OpenAI that no model here can honour: refused by name in ``parameters``.
    reasoning_effort: str | None = None
    verbosity: str | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None

    _check_max_completion = field_validator("max_completion_tokens")(
        lambda cls, v: _max_tokens_ok(v)
    )

    @field_validator("messages")
    @classmethod
    def _not_too_many(cls, value):
        if len(value) > settings.GATEWAY_MAX_MESSAGES:
            raise ValueError(f"takes at most {settings.GATEWAY_MAX_MESSAGES} messages")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs set to true")
        if (self.tool_choice is not None or self.parallel_tool_calls is not None) and not (
            self.tools
        ):
            raise ValueError("tool_choice and parallel_tool_calls are only allowed with tools")
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {tool.function.name for tool in self.tools or ()}
            if self.tool_choice.function.name not in names:
                raise ValueError("tool_choice names a function that is not in tools")
        return self


class CompletionRequest(_Sampling):
    prompt: (
        str
        | Annotated[list[str], Field(min_length=1)]
        | Annotated[list[int], Field(min_length=1)]
        | Annotated[list[Annotated[list[int], Field(min_length=1)]], Field(min_length=1)]
    )
    best_of: int | None = Field(default=None, ge=0, le=20)
    echo: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    suffix: str | None = None


class CompleteRequest(BaseModel):
    """The simple route of docs/PRODUCT.md 6.2: {"prompt", "max_tokens"}, "model" optional."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1)
    max_tokens: int = 256
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)

    _check_max = field_validator("max_tokens")(lambda cls, v: _max_tokens_ok(v))
    _check_model = field_validator("model")(lambda cls, v: _no_nul(v))


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=80)
    score: int = Field(ge=1, le=5)
    # What the answer should have been: kept with the call's content, when the endpoint keeps it.
    correction: str | None = Field(default=None, min_length=1, max_length=MAX_LOGGED_CHARS)
    _check_correction = field_validator("correction")(lambda cls, v: _no_nul(v))


TAGS = {"system", "developer", "user", "assistant", "tool", "text", "image_url", "input_audio"}
TAGS |= {"file", "refusal"}


def _describe(error: dict) -> tuple[str, str | None]:
    """OpenAI's wording for the first problem, and the parameter it is about. Pydantic's
    location names the union member it tried: a type ("str", "list[int]", "TextPart",
    "function-after[...]") or, right after a list index, a tagged member ("user" of a message,
    "text" of a content part). The caller's body names neither, so they go."""
    path, previous = [], None
    for part in error["loc"]:
        text = str(part)
        is_type = (
            "[" in text
            or text in ("str", "int", "float", "bool", "dict", "list")
            or text[:1].isupper()
        )
        is_tag = isinstance(previous, int) and text in TAGS
        if not (is_type or is_tag):
            path.append(text)
        previous = part
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):  # a bad or missing role
        path.append(str(error.get("ctx", {}).get("discriminator", "")).strip("'"))
    if error["type"] == "extra_forbidden":
        name = ".".join(path)
        return f"Unrecognized request argument supplied: {name}", name
    param = ".".join(path) or None
    message = error["msg"].removeprefix("Value error, ")
    return (f"Invalid value for '{param}': {message}." if param else f"{message}."), param


def parse(schema: type[BaseModel], payload) -> BaseModel:
    if not isinstance(payload, dict):
        raise ApiError(400, "The request body must be a JSON object.", "invalid_body")
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors()
        # A field in the wrong place is the most useful thing to say first.
        errors.sort(key=lambda e: e["type"] != "extra_forbidden")
        message, param = _describe(errors[0])
        code = "unknown_parameter" if errors[0]["type"] == "extra_forbidden" else "invalid_value"
        raise ApiError(400, message, code, param=param) from None
