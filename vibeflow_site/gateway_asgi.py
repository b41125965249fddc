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

import asyncio

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix

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

    async def handle(self, scope, receive, send):
        """Django's ``ASGIHandler.handle`` (5.2) without the ``request_started`` signal.

        Its receivers are Django's database housekeeping (reset_queries, close_old_connections),
        all synchronous: sending it moved every call to the sync thread and back before the view
        ran, a fixed share of the gateway's added latency. The same housekeeping still runs
        once per call, on the thread that holds the connections, when the response is closed
        (``request_finished``), so a connection that went bad is dropped before the next call
        uses it. Keep this in step with Django's method when Django is upgraded."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client left while the answer was being sent
            return response

        # As Django: a client that disconnects cancels the view (a stream's upstream call ends).
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(response.close)()
        body_file.close()

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
