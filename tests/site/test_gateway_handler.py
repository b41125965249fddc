"""The /v1/ handler: its slim async middleware keeps the headers and checks the site's gives."""

import re

import pytest
from channels.testing import HttpCommunicator
from django.test import override_settings

from vibeflow_site.asgi import application
from vibeflow_site.gateway_asgi import GatewayASGIHandler

# Django's request_started signal closes stale connections of the thread that runs sync
# code; an earlier test may have opened one there, so these tests may touch the database.
pytestmark = pytest.mark.django_db

HOST = (b"host", b"testserver")  # the test settings allow this host only
# get_response waits 1 s by default; the first request also imports the URLconf and its views.


def header(response, name: bytes) -> bytes | None:
    return dict(response["headers"]).get(name)


async def test_an_api_answer_carries_the_security_headers_and_its_length():
    communicator = HttpCommunicator(application, "GET", "/v1/models", headers=[HOST])
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 401  # no key: refused before any database work
    assert b"missing_api_key" in response["body"] or b"API key" in response["body"]
    assert header(response, b"X-Content-Type-Options") == b"nosniff"
    assert header(response, b"Referrer-Policy") == b"same-origin"
    assert header(response, b"Content-Length") == str(len(response["body"])).encode()


@override_settings(DISALLOWED_USER_AGENTS=[re.compile(r"^EvilBot")])
async def test_commonmiddleware_checks_still_apply_to_the_api():
    communicator = HttpCommunicator(
        application, "GET", "/v1/models", headers=[HOST, (b"user-agent", b"EvilBot/1.0")]
    )
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 403


async def test_an_unknown_api_route_is_openai_shaped_json():
    communicator = HttpCommunicator(application, "GET", "/v1/nothing-here", headers=[HOST])
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 404
    assert b"unknown_route" in response["body"]


async def test_a_bad_host_is_refused_not_crashed():
    communicator = HttpCommunicator(
        application, "GET", "/v1/models", headers=[(b"host", b"evil.example")]
    )
    assert (await communicator.get_response())["status"] == 400


@override_settings(SECURE_SSL_REDIRECT=True)
async def test_the_ssl_redirect_answers_before_the_view_and_keeps_its_headers():
    # SecurityMiddleware reads its settings when the handler is built: build one under them.
    handler = GatewayASGIHandler()
    communicator = HttpCommunicator(handler, "GET", "/v1/models", headers=[HOST])
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 301
    assert header(response, b"Location") == b"https://testserver/v1/models"
    assert header(response, b"X-Content-Type-Options") == b"nosniff"
