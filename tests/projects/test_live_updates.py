"""The project socket over the real channels-redis layer."""

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from vibeflow_site.asgi import application
from vibeflow_site.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def communicator_for(user, project):
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/projects/{project.pk}/"
    )
    communicator.scope["user"] = user
    return communicator


async def test_a_member_receives_changes_to_the_project(owner, project):
    from asgiref.sync import sync_to_async

    from apps.projects.live import broadcast_project_changed

    communicator = communicator_for(owner, project)
    connected, _ = await communicator.connect()
    assert connected

    def rename():
        project.name = "Renamed Live"
        project.save()
        broadcast_project_changed(project)

    await sync_to_async(rename)()
    html = await communicator.receive_from(timeout=5)
    assert "Renamed Live" in html
    assert 'hx-swap-oob="true"' in html
    await communicator.disconnect()


async def test_an_outsider_is_refused(outsider, project):
    communicator = communicator_for(outsider, project)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4404


async def test_an_anonymous_visitor_is_refused(project):
    communicator = communicator_for(AnonymousUser(), project)
    connected, _ = await communicator.connect()
    assert not connected


async def test_the_browser_cannot_send_anything(owner, project):
    communicator = communicator_for(owner, project)
    await communicator.connect()
    await communicator.send_to(text_data='{"name": "hacked"}')
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused_by_the_full_stack(project):
    communicator = WebsocketCommunicator(
        application,
        f"/ws/projects/{project.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"localhost")],
    )
    connected, _ = await communicator.connect()
    assert not connected
