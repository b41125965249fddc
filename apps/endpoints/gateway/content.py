"""What a call's prompt and answer are, for endpoints that keep them (``Endpoint.log_content``):
the prompt as plain chat messages (text parts joined, ``developer`` as ``system``) and the
answer's text, or None when the call cannot become a training example as it is: too long, a
NUL (PostgreSQL's text refuses it), tool turns, or no text answered."""

from __future__ import annotations

import json

from ..models import MAX_LOGGED_CHARS

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _text(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            (part.get("text") or part.get("refusal") or "") if isinstance(part, dict) else ""
            for part in content
        )
    return None


def prompt_messages(kind: str, payload: dict) -> list | None:
    """The prompt of a chat, completions or complete call, as plain chat messages."""
    if kind != "chat":
        prompt = payload.get("prompt")
        # A list of prompts or of token ids: nothing to learn from as a conversation.
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else None
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return None
    out = []
    for message in messages:
        role = ROLES.get(message.get("role")) if isinstance(message, dict) else None
        text = _text(message.get("content")) if role else None
        if role is None or text is None or message.get("tool_calls"):
            return None  # tool turns and calls: not kept as plain conversations
        out.append({"role": role, "content": text})
    return out


def answer_text(kind: str, answer: dict) -> str | None:
    choices = answer.get("choices") or [{}]
    if kind == "chat":
        return (choices[0].get("message") or {}).get("content")
    return choices[0].get("text")


def kept(messages: list | None, text: str | None) -> tuple[list, str] | None:
    """(messages, answer) when both exist, fit and can be stored; else None (the call is
    logged without them)."""
    if messages is None or not isinstance(text, str) or not text.strip():
        return None
    encoded = json.dumps(messages, ensure_ascii=False)
    if len(text) > MAX_LOGGED_CHARS or len(encoded) > MAX_LOGGED_CHARS:
        return None
    if "\x00" in text or "\\u0000" in encoded:
        return None
    return messages, text
