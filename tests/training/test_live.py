"""The run socket over the real channels-redis layer: members get history then live points."""

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from apps.catalog.models import BaseModel, Hardware
from apps.training.models import MetricPoint, RunStatus, TrainingRun
from apps.training.reporting import DatabaseReporter
from vibeflow_site.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(project, owner, seeded_catalog):
    run = TrainingRun.create_next(
        project,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        created_by=owner,
    )
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    MetricPoint.objects.create(run=run, step=1, data={"step": 1, "loss": 2.5, "total_steps": 4})
    return run


def socket(user, run):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run.pk}/")
    communicator.scope["user"] = user
    return communicator


async def test_a_member_gets_the_history_then_live_points(owner, run, tmp_path):
    communicator = socket(owner, run)
    connected, _ = await communicator.connect()
    assert connected
    history = await communicator.receive_json_from(timeout=5)
    assert history["type"] == "history" and history["points"] == [
        {"step": 1, "loss": 2.5, "total_steps": 4}
    ]

    reporter = await sync_to_async(DatabaseReporter)(run, tmp_path / "train.log")
    await sync_to_async(reporter.metrics)({"step": 2, "loss": 2.1, "total_steps": 4})
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"type": "metrics", "point": {"step": 2, "loss": 2.1, "total_steps": 4}}

    await sync_to_async(run.transition)(RunStatus.STOPPING)
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "status" and message["status"] == "stopping"
    await communicator.disconnect()


async def test_a_status_event_carries_the_header_badge_for_the_new_state(owner, run):
    """The header said "Running" after the run succeeded until a reload: the status event now
    carries the badge rendered for the new state, which the page swaps in by its id."""
    communicator = socket(owner, run)
    assert (await communicator.connect())[0]
    history = await communicator.receive_json_from(timeout=5)
    assert 'id="run-status-badge"' in history["html"] and ">Running<" in history["html"]

    await sync_to_async(run.transition)(RunStatus.SUCCEEDED)
    message = await communicator.receive_json_from(timeout=5)
    while message["type"] == "log":  # why it was not evaluated (this run has no data)
        message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "status" and message["status"] == "succeeded"
    assert message["html"].startswith('<span id="run-status-badge" class="badge"')
    assert ">Succeeded</span>" in message["html"] and "Running" not in message["html"]
    await communicator.disconnect()


async def test_eval_and_train_logs_of_one_step_merge(run, tmp_path):
    reporter = await sync_to_async(DatabaseReporter)(run, tmp_path / "train.log")
    await sync_to_async(reporter.metrics)({"step": 3, "loss": 2.0})
    await sync_to_async(reporter.metrics)({"step": 3, "eval_loss": 2.2})
    point = await sync_to_async(MetricPoint.objects.get)(run=run, step=3)
    assert point.data == {"step": 3, "loss": 2.0, "eval_loss": 2.2}


async def test_outsiders_are_refused(outsider, run):
    connected, code = await socket(outsider, run).connect()
    assert not connected and code == 4404


async def test_every_open_tab_gets_each_live_point_and_alert(owner, member, run, tmp_path):
    tabs = [socket(owner, run), socket(owner, run), socket(member, run)]
    for tab in tabs:
        assert (await tab.connect())[0]
        assert (await tab.receive_json_from(timeout=5))["type"] == "history"
    reporter = await sync_to_async(DatabaseReporter)(run, tmp_path / "train.log")
    await sync_to_async(reporter.metrics)({"step": 2, "loss": 2.0, "total_steps": 4})
    await sync_to_async(reporter.alert)("loss_rising", "Loss went up for 5 logging steps.")
    for tab in tabs:
        assert await tab.receive_json_from(timeout=5) == {
            "type": "metrics",
            "point": {"step": 2, "loss": 2.0, "total_steps": 4},
        }
        received = [await tab.receive_json_from(timeout=5) for _ in range(2)]
        assert {
            "type": "alert",
            "code": "loss_rising",
            "message": "Loss went up for 5 logging steps.",
        } in received
        await tab.disconnect()
