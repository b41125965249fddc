from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404
from django.template.loader import render_to_string

from .access import get_run_for_user
from .reporting import run_group


@database_sync_to_async
def _run_if_member(user, run_id):
    try:
        run, _ = get_run_for_user(user, run_id)
    except Http404:
        return None
    return run


def _fragments(run) -> str:
    """The parts of the run page that say its state, rendered from the database, each with the
    id of the element it replaces (static/js/run_chart.js swaps them in)."""
    return render_to_string("training/_status_badge.html", {"run": run}).strip()


@database_sync_to_async
def _status(run_id) -> dict:
    from .models import TrainingRun

    run = TrainingRun.objects.filter(pk=run_id).first()
    return {"status": run.status, "html": _fragments(run)} if run else {}


@database_sync_to_async
def _history(run_id) -> dict:
    from .models import TrainingRun

    run = TrainingRun.objects.get(pk=run_id)
    return {
        "type": "history",
        "status": run.status,
        "html": _fragments(run),
        "points": [p.data for p in run.points.all()],
        "checkpoints": [
            {"step": c.step, "eval_loss": c.eval_loss, "best": c.best}
            for c in run.checkpoints.all()
        ],
        "log": run.log_tail.splitlines(),
    }


class RunConsumer(AsyncJsonWebsocketConsumer):
    """A run's live events for the members of its team; push-only.

    On connect it joins the group first, then sends the history from the database, so a
    point produced in between arrives twice rather than not at all; the page keys points
    by step, which makes the duplicate harmless.
    """

    async def connect(self):
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await _run_if_member(self.scope["user"], run_id)
        if run is None:
            await self.close(code=4404)
            return
        self.run_id = run_id
        self.group = run_group(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await _history(run_id))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        return  # nothing is accepted from the browser

    async def run_metrics(self, event):
        await self.send_json({"type": "metrics", "point": event["point"]})

    async def run_log(self, event):
        await self.send_json({"type": "log", "line": event["line"]})

    async def run_alert(self, event):
        await self.send_json({"type": "alert", "code": event["code"], "message": event["message"]})

    async def run_status(self, event):
        # The state as stored now (a later change may have followed the event), with the
        # header's badge rendered for it: the page follows without a reload.
        current = await _status(self.run_id)
        await self.send_json({"type": "status", "status": event["status"], **current})
