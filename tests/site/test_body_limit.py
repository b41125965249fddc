"""The ASGI guard answers 413 from Content-Length before the body is read, and for a body sent
without one (chunked) as soon as the bytes received pass the limit."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.testing import HttpCommunicator

from vibeflow_site.asgi import application
from vibeflow_site.limits import SLACK, RequestBodyLimit

HOST = (b"host", b"testserver")


async def app_that_must_not_run(scope, receive, send):
    raise AssertionError("the oversized request reached the app")


async def app_that_reads_like_django(scope, receive, send):
    """Reads the whole body first; a disconnect means the caller left, so nothing is sent
    (django.core.handlers.asgi.ASGIHandler.handle)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read it all"})


def chunked_request(app, path: str, *headers) -> ApplicationCommunicator:
    """A request with no Content-Length, as a server passes a chunked body on: in parts."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [HOST, (b"transfer-encoding", b"chunked"), *headers],
    }
    return ApplicationCommunicator(app, scope)


async def send_parts(communicator, *parts: bytes) -> None:
    for part in parts:
        await communicator.send_input({"type": "http.request", "body": part, "more_body": True})


async def answer(communicator) -> tuple[dict, bytes]:
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=5)
    return start, body["body"]


async def test_an_oversized_upload_is_refused_before_reading():
    guarded = RequestBodyLimit(app_that_must_not_run, [(r"^/upload/$", lambda: 1000)])
    communicator = HttpCommunicator(
        guarded,
        "POST",
        "/upload/",
        body=b"",
        headers=[(b"content-length", str(50 * 1024 * 1024).encode())],
    )
    response = await communicator.get_response()
    assert response["status"] == 413
    assert b"larger than the 0 MB limit" in response["body"] or b"limit" in response["body"]


async def test_other_paths_pass_through():
    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})

    guarded = RequestBodyLimit(ok, [(r"^/upload/$", lambda: 10)])
    communicator = HttpCommunicator(
        guarded, "POST", "/elsewhere/", body=b"x" * 100, headers=[(b"content-length", b"100")]
    )
    assert (await communicator.get_response())["status"] == 200


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    # Before, the guard told the application the caller had gone: Django then returned without
    # answering, and Daphne held the caller's connection open with no answer at all.
    guarded = RequestBodyLimit(app_that_reads_like_django, [(r"^/v1/", lambda: 1000)])
    communicator = chunked_request(guarded, "/v1/chat/completions")
    await send_parts(communicator, b"x" * 600, b"x" * 600)  # the body goes on past these
    start, body = await answer(communicator)
    assert start["status"] == 413
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert len(headers[b"x-request-id"]) == 36  # a uuid4, as the gateway writes it
    assert json.loads(body)["error"]["code"] == "request_too_large"
    await communicator.wait(timeout=5)  # the application ended, without a second answer


async def test_a_chunked_body_within_the_limit_reaches_the_application():
    guarded = RequestBodyLimit(app_that_reads_like_django, [(r"^/v1/", lambda: 1000)])
    communicator = chunked_request(guarded, "/v1/chat/completions")
    await send_parts(communicator, b"x" * 600)
    await communicator.send_input({"type": "http.request", "body": b"x" * 400})
    start, body = await answer(communicator)
    assert (start["status"], body) == (200, b"read it all")


async def test_an_api_413_from_content_length_carries_a_request_id():
    guarded = RequestBodyLimit(app_that_must_not_run, [(r"^/v1/", lambda: 1000)])
    communicator = HttpCommunicator(
        guarded, "POST", "/v1/completions", headers=[(b"content-length", b"1001")]
    )
    response = await communicator.get_response()
    assert response["status"] == 413
    assert len(dict(response["headers"])[b"x-request-id"]) == 36


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/endpoints/abc/console/"])
async def test_the_site_answers_an_oversized_chunked_api_body_at_once(path, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    communicator = chunked_request(application, path, (b"content-type", b"application/json"))
    await send_parts(communicator, b"x" * 600, b"x" * 600)
    start, body = await answer(communicator)
    assert start["status"] == 413
    assert json.loads(body)["error"]["message"] == "The request body is larger than the 0 KB limit."
    await communicator.wait(timeout=10)


async def test_the_site_answers_an_oversized_chunked_upload_at_once(settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    communicator = chunked_request(
        application,
        "/projects/8d4f2a52-0000-4000-8000-000000000000/datasets/upload/",
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"hx-request", b"true"),
    )
    part = b"x" * (SLACK // 2 + 1000)
    await send_parts(communicator, part, part)
    start, body = await answer(communicator)
    assert start["status"] == 413
    assert b'role="alert"' in body and b"0 MB limit" in body  # the form's fragment
    assert b"x-request-id" not in dict(start["headers"])  # a page, not the API
    await communicator.wait(timeout=10)
