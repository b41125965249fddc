"""One turn of a project's conversation with the Brainstorm Agent: the page's message box and the
welcome page's goal both go through it."""

from __future__ import annotations

from . import agent
from .models import Message

HISTORY_TURNS = 20


def converse(project, user, text: str) -> Message:
    """Store the user's message, ask the agent with the recent history, store and return its answer."""
    Message.objects.create(project=project, role=Message.Role.USER, text=text, author=user)
    recent = list(project.agent_messages.order_by("-created_at", "-id")[:HISTORY_TURNS])[::-1]
    answer = agent.reply([(m.role, m.text) for m in recent], project)
    return Message.objects.create(
        project=project,
        role=Message.Role.ASSISTANT,
        text=answer.text,
        recommendation=answer.recommendation,
        source=answer.source,
        fallback_reason=answer.fallback_reason,
    )
