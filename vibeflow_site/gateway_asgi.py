"""The /v1/ API on a Django handler of its own, with only the middleware an API call needs.

The site's middleware (sessions, auth, CSRF, messages, htmx, allauth, static files, request
logs) serves pages; the gateway authenticates by key and answers JSON, and each of those layers
cost it time on every call (one of them, WhiteNoise, is synchronous and moves each request to a
thread and back). Same settings, URLs and views otherwise.

The two layers it keeps (security headers, CommonMiddleware's checks) run inside one native
async middleware: Django's own classes are sync-or-async through MiddlewareMixin, whose async
path sends process_request and process_response each to a thread and back, four thread hops
a call for what is pure header work.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware

GATEWAY_MIDDLEWARE = ["vibeflow_site.gateway_asgi.GatewayMiddleware"]


class GatewayMiddleware:
    """SecurityMiddleware then CommonMiddleware, as the site orders them, without thread hops:
    their hooks read settings and headers only, so they are called inline."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        if not iscoroutinefunction(get_response):
            raise TypeError("GatewayMiddleware serves the async gateway handler only")
        self.get_response = get_response
        self.layers = [SecurityMiddleware(get_response), CommonMiddleware(get_response)]
        markcoroutinefunction(self)

    async def __call__(self, request):
        # As Django chains them: a layer that answers from process_request ends the way in, and
        # only the layers it passed through (itself included) see the response on the way out.
        response, passed = None, 0
        for layer in self.layers:
            passed += 1
            response = layer.process_request(request)
            if response is not None:
                break
        if response is None:
            response = await self.get_response(request)
        for layer in reversed(self.layers[:passed]):
            response = layer.process_response(request, response)
        return response


class GatewayASGIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        # Django opens a ThreadSensitiveContext per request, which starts a new thread for the
        # request's first synchronous step (the request_started signal, every time). The
        # gateway's synchronous steps are short (signals, a response's close; its directory
        # reads the database only when something changed, and log rows have their own thread),
        # so they share asgiref's one sync thread instead of starting a thread per call.
        if scope["type"] != "http":
            raise ValueError(f"The gateway serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)

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
