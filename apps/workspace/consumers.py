from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404
from django.template.loader import render_to_string

from apps.endpoints.models import prefetch_badges
from apps.projects.access import get_project_for_user
from apps.projects.models import Project

from . import history
from .dashboard import project_figures


@database_sync_to_async
def _may_watch(user, project_id) -> Project | None:
    try:
        project, _ = get_project_for_user(user, project_id)
    except Http404:
        return None
    return project


@database_sync_to_async
def _render_changed(project_id) -> str | None:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    prefetch_badges(project)  # one query for every endpoint's badge
    return render_to_string(
        "projects/_live_update.html",
        {
            "project": project,
            "figures": project_figures(project),
            "versions": history.dashboard(project),
        },
    )


class ProjectConsumer(AsyncWebsocketConsumer):
    """Pushes a project's changes to the pages showing it. Push-only: changes go through HTTP views."""

    async def connect(self):
        project_id = self.scope["url_route"]["kwargs"]["project_id"]
        project = await _may_watch(self.scope["user"], project_id)
        if project is None:
            await self.close(code=4404)
            return
        self.group = project.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # Nothing is accepted from the browser on this socket.
        return

    async def project_changed(self, event):
        html = await _render_changed(event["project_id"])
        if html is not None:
            await self.send(text_data=html)
