"""What a call's prompt and answer are, for endpoints that keep them (``Endpoint.log_content``):
the prompt as chat messages and the answer's text, or None when either is too long to keep."""

from __future__ import annotations

import json

from ..models import MAX_LOGGED_CHARS


def prompt_messages(kind: str, payload: dict) -> list | None:
    """The prompt of a chat, completions or complete call, as chat messages."""
    if kind == "chat":
        messages = payload.get("messages")
        return messages if isinstance(messages, list) else None
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return None  # a list of prompts or of token ids: nothing to learn from as a conversation


def answer_text(kind: str, answer: dict) -> str | None:
    choices = answer.get("choices") or [{}]
    if kind == "chat":
        return (choices[0].get("message") or {}).get("content")
    return choices[0].get("text")


def kept(messages: list | None, text: str | None) -> tuple[list, str] | None:
    """(messages, answer) when both exist and fit, else None (the call is logged without them)."""
    if messages is None or not isinstance(text, str):
        return None
    if len(text) > MAX_LOGGED_CHARS:
        return None
    if len(json.dumps(messages, ensure_ascii=False)) > MAX_LOGGED_CHARS:
        return None
    return messages, text
