"""Refuse oversized request bodies before the application reads them.

Django's ASGI handler reads a whole request body (to a temporary file) before any view runs, so a
view cannot refuse a 2 GB upload early. This ASGI middleware answers 413 from the Content-Length
header alone, and, for a body sent without one (``Transfer-Encoding: chunked``), as soon as the
bytes received pass the limit.

Daphne (Twisted underneath) receives a whole body, to a temporary file of its own, before it
starts the application: under it "early" means before Django copies the body, not before the
bytes arrive. Only a proxy in front (nginx's ``client_max_body_size``) stops them sooner.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from django.conf import settings

from apps.endpoints.gateway.errors import ApiError

SLACK = 1024 * 1024  # multipart boundaries and the other form fields


# The gateway's routes and the page's test console: their callers read OpenAI's error JSON, and
# their bodies are small (GATEWAY_MAX_BODY_BYTES; asgi.py gives both that limit).
API_PATHS = re.compile(r"^/v1/|^/endpoints/[^/]+/console/$")


def is_api(path: str) -> bool:
    return API_PATHS.match(path) is not None


async def send_answer(send, status: int, body: bytes, *, api: bool, close: bool = False) -> None:
    """An answer given at the edge, before the application: OpenAI's JSON with a fresh request id
    (as the gateway's own answers carry one) on the API, a page elsewhere."""
    headers = [
        (b"content-type", b"application/json" if api else b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if api:
        headers.append((b"x-request-id", str(uuid.uuid4()).encode()))  # as the gateway
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_api_error(send, error: ApiError, *, close: bool = False) -> None:
    await send_answer(send, error.status, json.dumps(error.body()).encode(), api=True, close=close)


def _message(limit: int) -> str:
    mb = limit // (1024 * 1024)
    return (
        f"The file is larger than the {mb} MB limit. Remove columns you don't need or split it "
        "into parts, then upload again."
    )


class RequestBodyLimit:
    def __init__(self, app, rules: list[tuple[str, Callable[[], int]]]):
        self.app = app
        self.rules = [(re.compile(pattern), limit) for pattern, limit in rules]

    def _limit_for(self, path: str) -> int | None:
        for pattern, limit in self.rules:
            if pattern.match(path):
                return limit()
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        limit = self._limit_for(path)
        if limit is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            length = -1
        allowed = limit + (0 if is_api(path) else SLACK)
        htmx = b"hx-request" in headers
        if length > allowed:
            return await self._reject(send, path, limit, htmx)
        received, started, refused = 0, False, False

        async def counting_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # The 413 is sent here, not left to the application: the disconnect below
                    # makes Django drop the request without answering (it takes the caller for
                    # gone), and Daphne, whose caller is still there, waited for ever.
                    refused = True
                    if not started:
                        await self._reject(send, path, limit, htmx)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # the 413 went out; nothing the application sends after it may
            started = started or message["type"] == "http.response.start"
            await send(message)

        return await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _reject(send, path: str, limit: int, htmx: bool) -> None:
        if is_api(path):
            error = ApiError(
                413,
                f"The request body is larger than the {limit // 1024} KB limit.",
                "request_too_large",
            )
            return await send_api_error(send, error, close=True)
        text = _message(limit)
        page = (
            f'<p class="message message-error" role="alert">{text}</p>'
            if htmx
            else f'<!DOCTYPE html><title>File too large</title><p>{text}</p><p><a href="javascript:history.back()">Back</a></p>'
        )
        await send_answer(send, 413, page.encode(), api=False, close=True)


def gateway_body_limit() -> int:
    return settings.GATEWAY_MAX_BODY_BYTES


def dataset_upload_limit() -> int:
    return settings.DATASET_MAX_UPLOAD_BYTES
