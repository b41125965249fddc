from django.urls import path, re_path

from apps.training.consumers import RunConsumer
from apps.workspace.consumers import ProjectConsumer

# The close code our consumers use for "nothing of yours here" (an HTTP 404's twin).
NOT_FOUND = 4404


async def refuse_unknown_socket(scope, receive, send):
    """Any socket path no consumer serves: close the handshake. Without it Channels' URLRouter
    raises "No route found", a 500 whose logged traceback carried the whole scope, cookies
    included."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": NOT_FOUND})


websocket_urlpatterns = [
    path("ws/projects/<uuid:project_id>/", ProjectConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunConsumer.as_asgi()),
    # Last: matches every path (a search for the empty pattern).
    re_path(r"", refuse_unknown_socket),
]
