"""ASGI entry point for Daphne: HTTP goes to Django, WebSockets to Channels consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibeflow_site.settings")

# Django must be set up before the consumers (which import models) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from .gateway_asgi import GatewayASGIHandler, SplitByPath  # noqa: E402
from .hostile import RefuseNul, RefuseNulInApiBodies  # noqa: E402
from .limits import RequestBodyLimit, dataset_upload_limit, gateway_body_limit  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Outermost: a request no page can mean (a NUL in its URL, cookies or headers) is
        # refused before anything reads it. An API body is read whole for its NUL check only
        # inside the size limit, which bounds what that check holds in memory.
        "http": RefuseNul(
            RequestBodyLimit(
                RefuseNulInApiBodies(SplitByPath(django_asgi_app, GatewayASGIHandler())),
                [
                    (r"^/projects/[^/]+/datasets/upload/$", dataset_upload_limit),
                    (r"^/v1/", gateway_body_limit),
                    (r"^/endpoints/[^/]+/console/$", gateway_body_limit),
                ],
            )
        ),
        # The Origin check is the WebSocket's CSRF defence; each consumer then
        # checks that the user may see the object it subscribes to.
        "websocket": RefuseNul(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
