"""Live updates of a project to the browsers watching it, over the channel layer."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Project


def broadcast_project_changed(project: Project) -> None:
    """After the current transaction commits, tell the project's watchers to redraw it."""
    group = project.group_name
    message = {"type": "project.changed", "project_id": str(project.pk)}

    def send():
        async_to_sync(get_channel_layer().group_send)(group, message)

    # Best effort (robust: a failure is logged): every run transition and deployment change
    # sends this, and a channel layer that hiccups must never fail the work that committed.
    transaction.on_commit(send, robust=True)
