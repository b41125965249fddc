"""Turning a row into the canonical training record: chat ``messages`` (system?, user, assistant)."""

from __future__ import annotations

import re
from functools import lru_cache
from string import Formatter

_ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "prompter": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "system": "system",
}


class RecordError(ValueError):
    """A row that gives no usable example; the message names what is missing."""


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from Parquet/pandas
        return ""
    return str(value).strip()


@lru_cache(maxsize=64)
def _parsed(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in Formatter().parse(template) if name)


def template_fields(template: str) -> list[str]:
    return list(_parsed(template))


_BLANK_RUN = re.compile(r"\n{3,}")


def render_template(template: str, row: dict) -> str:
    """Fill ``{column}`` placeholders; parts whose column is empty vanish with their blank lines."""
    fields = _parsed(template)
    if len(fields) == 1 and template == "{" + fields[0] + "}":
        return _text(row.get(fields[0]))  # the common one-column case, without formatting
    values = {name: _text(row.get(name)) for name in fields}
    return _BLANK_RUN.sub("\n\n", template.format_map(values)).strip()


def _chat(messages: list, role_key: str, text_key: str) -> list[dict]:
    out = []
    for message in messages:
        role = _ROLE_ALIASES.get(str(message.get(role_key, "")).lower())
        if role is None:
            raise RecordError(f"unknown role “{message.get(role_key)}”")
        content = _text(message.get(text_key))
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" and m["content"] for m in out):
        raise RecordError("no user message")
    if not out or out[-1]["role"] != "assistant" or not out[-1]["content"]:
        raise RecordError("does not end with an assistant reply")
    return out


def to_record(row: dict, mapping: dict) -> list[dict]:
    """The row as messages, or RecordError saying why it cannot be one."""
    kind = mapping["kind"]
    if kind == "messages":
        value = row.get(mapping["inputs"][0])
        if not isinstance(value, list):
            raise RecordError("messages is not a list")
        return _chat(value, "role", "content")
    if kind == "sharegpt":
        value = row.get(mapping["inputs"][0])
        if not isinstance(value, list):
            raise RecordError("conversations is not a list")
        return _chat(value, "from", "value")
    user = render_template(mapping.get("template") or "", row)
    assistant = _text(row.get(mapping.get("output"))) if mapping.get("output") else ""
    if not user:
        raise RecordError("the input is empty")
    if not assistant:
        raise RecordError("the output is empty")
    messages = []
    if mapping.get("system"):
        system = _text(row.get(mapping["system"]))
        if system:
            messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": assistant})
    return messages


def input_text(messages: list[dict]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def output_text(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
