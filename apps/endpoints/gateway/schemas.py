"""What a request body must hold, checked with pydantic before anything is sent upstream.

Unknown fields pass through (temperature, top_p, stop, seed, ... go to the server as they are);
the fields we rely on are checked so a careless body gets a 400 that names the field.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ApiError


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


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stream: bool = False

    _check_max = field_validator("max_tokens", "max_completion_tokens")(
        lambda cls, v: _max_tokens_ok(v)
    )
    _check_model = field_validator("model")(lambda cls, v: _no_nul(v))


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    prompt: str | list[str]
    max_tokens: int | None = None
    stream: bool = False

    _check_max = field_validator("max_tokens")(lambda cls, v: _max_tokens_ok(v))
    _check_model = field_validator("model")(lambda cls, v: _no_nul(v))


class CompleteRequest(BaseModel):
    """The spec's simple route: {"prompt", "max_tokens"}, "model" optional."""

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


def parse(schema: type[BaseModel], payload) -> BaseModel:
    if not isinstance(payload, dict):
        raise ApiError(400, "The request body must be a JSON object.", "invalid_body")
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(
            400, f"Invalid value for '{param}': {first['msg']}.", "invalid_value", param=param
        ) from None
