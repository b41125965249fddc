"""The edge's answers through a real Daphne, which (Twisted underneath) receives a whole body
before the application starts and passes it on in 8 KB parts. Each request has a short client
timeout: a regression that leaves the caller waiting fails here instead of hanging the suite."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

TIMEOUT_S = 10


def chunks(total: int, size: int = 64 * 1024):
    """A body sent with Transfer-Encoding: chunked, no Content-Length (http.client's choice for
    an iterable body)."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def call(url: str, method: str, path: str, body=None, headers=None):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_S)
    try:
        started = time.monotonic()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read(), time.monotonic() - started
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_answered_413_at_once(live_server_url, settings):
    # Before: no answer at all (the caller waited until it gave up, 200 s and more).
    body = chunks(2 * settings.GATEWAY_MAX_BODY_BYTES)
    response, raw, seconds = call(live_server_url, "POST", "/v1/chat/completions", body)
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert len(response.getheader("X-Request-Id")) == 36  # a uuid4, as the gateway writes it
    assert json.loads(raw)["error"]["code"] == "request_too_large"
    assert seconds < 5

    # Within the limit, the same kind of body reaches the gateway whole (it asks for a key).
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 50_000}]})
    response, raw, _ = call(
        live_server_url,
        "POST",
        "/v1/chat/completions",
        iter([body.encode()[:30_000], body.encode()[30_000:]]),
    )
    assert (response.status, json.loads(raw)["error"]["code"]) == (401, "missing_api_key")


def test_a_nul_through_daphne_is_a_bad_request(live_server_url):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "\x00"}]})
    response, raw, _ = call(live_server_url, "POST", "/v1/chat/completions", body.encode())
    assert response.status == 400
    assert len(response.getheader("X-Request-Id")) == 36  # a uuid4, as the gateway writes it
    assert json.loads(raw)["error"]["param"] == "messages.0.content"

    # A raw NUL in a header never reaches the application: Twisted answers a bare 400 itself.
    response, raw, _ = call(
        live_server_url, "GET", "/v1/models", headers={"Authorization": "Bearer vf_live_a\x00b"}
    )
    assert response.status == 400
