"""The /v1/ API on a Django handler of its own, with only the middleware an API call needs.

The site's middleware (sessions, auth, CSRF, messages, htmx, allauth, static files, request
logs) serves pages; the gateway authenticates by key and answers JSON, and each of those layers
cost it time on every call (one of them, WhiteNoise, is synchronous and moves each request to a
thread and back). Same settings, URLs and views otherwise.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

GATEWAY_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]


class GatewayASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE; swap it only while this handler builds its chain.
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = GATEWAY_MIDDLEWARE
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = site_middleware


class SplitByPath:
    """/v1/... to the gateway's handler, everything else to the site's."""

    def __init__(self, site, gateway):
        self.site, self.gateway = site, gateway

    async def __call__(self, scope, receive, send):
        app = self.gateway if scope["path"].startswith("/v1/") else self.site
        return await app(scope, receive, send)
