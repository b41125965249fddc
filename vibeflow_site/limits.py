"""Refuse oversized request bodies before reading them.

Django's ASGI handler reads a whole request body (to a temporary file) before
any view runs, so a view cannot refuse a 2 GB upload early. This ASGI middleware
answers 413 from the Content-Length header alone, and cuts off a body sent
without one once it passes the limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.conf import settings

SLACK = 1024 * 1024  # multipart boundaries and the other form fields


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

    @staticmethod
    def _is_api(path: str) -> bool:
        return path.startswith("/v1/") or path.endswith("/console/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit_for(scope["path"])
        if limit is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            length = -1
        slack = 0 if self._is_api(scope["path"]) else SLACK
        if length > limit + slack:
            if self._is_api(scope["path"]):
                return await self._reject_api(send, limit)
            return await self._reject(send, limit, htmx=b"hx-request" in headers)
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit + slack:
                    return {
                        "type": "http.disconnect"
                    }  # Django aborts the request; handlers clean up
            return message

        return await self.app(scope, counting_receive, send)

    async def _reject(self, send, limit: int, htmx: bool):
        text = _message(limit)
        body = (
            f'<p class="message message-error" role="alert">{text}</p>'
            if htmx
            else f'<!DOCTYPE html><title>File too large</title><p>{text}</p><p><a href="javascript:history.back()">Back</a></p>'
        ).encode()
        await _send_413(send, b"text/html; charset=utf-8", body)

    async def _reject_api(self, send, limit: int):
        """The gateway's callers expect OpenAI's error JSON, not a page."""
        body = json.dumps(
            {
                "error": {
                    "message": f"The request body is larger than the {limit // 1024} KB limit.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "request_too_large",
                }
            }
        ).encode()
        await _send_413(send, b"application/json", body)


async def _send_413(send, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def gateway_body_limit() -> int:
    return settings.GATEWAY_MAX_BODY_BYTES


def dataset_upload_limit() -> int:
    return settings.DATASET_MAX_UPLOAD_BYTES
