"""The ASGI guard answers 413 from Content-Length, before the body is read."""

from channels.testing import HttpCommunicator

from vibeflow_site.limits import RequestBodyLimit


async def app_that_must_not_run(scope, receive, send):
    raise AssertionError("the oversized request reached the app")


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
