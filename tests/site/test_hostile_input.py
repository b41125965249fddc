"""What a careless or hostile client sends at the edge: a NUL in a URL, a cookie, a header or an
API body, an unknown socket path.

These go through the whole ASGI application, as Daphne calls it, with a logged-in session: a NUL
that reached a view would reach PostgreSQL, which refuses it in text (a 500)."""

import json

import pytest
from channels.security.websocket import OriginValidator
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.conf import settings
from django.test import Client

from apps.endpoints import keys
from vibeflow_site.asgi import application

# The views run in asgiref's thread on their own connection: they must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"testserver")  # the test settings allow this host only
ORIGIN = (b"origin", b"http://testserver")  # a socket's Origin must be an allowed host


@pytest.fixture
def session_cookie(owner, seeded_catalog) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(owner)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode())


@pytest.fixture
def api_key_header(project, owner) -> tuple[bytes, bytes]:
    _, raw = keys.create_key(project, owner)
    return (b"authorization", f"Bearer {raw}".encode())


async def get(path: str, *headers) -> dict:
    communicator = HttpCommunicator(application, "GET", path, headers=[HOST, *headers])
    # The first request of a test process also imports the URLconf and its views.
    return await communicator.get_response(timeout=30)


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/%00/",
        "/catalog/smollm2%00-135m/",
        "/projects/%00/",
        "/%00",
        "/catalog/compare/?m=%00&m=smollm2-135m-instruct",
        "/catalog/?q=a%00b",
        "/projects/?archived=%00",
        "/accounts/login/?next=/%00",
        "/catalog/?%00=1",
    ],
)
async def test_a_nul_in_a_page_url_is_a_bad_request(path, session_cookie):
    response = await get(path, session_cookie)
    assert response["status"] == 400
    assert b"<title>" in response["body"]  # a page, not a bare error


@pytest.mark.parametrize(
    "path",
    ["/v1/models/%00", "/v1/models/a%00b", "/v1/models?x=%00", "/v1/%00/completions"],
)
async def test_a_nul_in_an_api_url_is_an_openai_shaped_bad_request(path, api_key_header):
    response = await get(path, api_key_header)
    assert response["status"] == 400
    assert dict(response["headers"])[b"content-type"] == b"application/json"
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_request_url"
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert len(dict(response["headers"])[b"x-request-id"]) == 36  # a uuid4, as the gateway


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/v1/chat/completions",
            {"model": "a\x00b", "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/completions", {"model": "a\x00b", "prompt": "hi"}),
        ("/v1/complete", {"model": "a\x00b", "prompt": "hi"}),
    ],
)
async def test_a_nul_in_an_api_model_name_is_a_bad_request(path, body, api_key_header):
    # The name is looked up in PostgreSQL: it answered 500 (an HTML page) before.
    communicator = HttpCommunicator(
        application,
        "POST",
        path,
        body=json.dumps(body).encode(),
        headers=[HOST, api_key_header, (b"content-type", b"application/json")],
    )
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 400
    error = json.loads(response["body"])["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "model")


async def post(path: str, body: bytes, *headers) -> dict:
    communicator = HttpCommunicator(
        application,
        "POST",
        path,
        body=body,
        headers=[HOST, (b"content-type", b"application/json"), *headers],
    )
    return await communicator.get_response(timeout=30)


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat_with(**fields) -> bytes:
    return json.dumps(CHAT | fields).encode()


@pytest.mark.parametrize(
    "path, body, param",
    [
        (
            "/v1/chat/completions",
            chat_with(messages=[{"role": "user", "content": "h\x00i"}]),
            "messages.0.content",
        ),
        # A raw NUL byte inside a string: the gateway's decoder called it invalid JSON.
        ("/v1/chat/completions", chat_with().replace(b'"m"', b'"a\x00b"'), "model"),
        ("/v1/chat/completions", chat_with(metadata={"k\x00": "v"}), "metadata.k\x00"),
        ("/v1/chat/completions", chat_with().replace(b", ", b",\x00 ", 1), None),
        (
            "/v1/completions",
            json.dumps({"model": "m", "prompt": ["a", "\x00"]}).encode(),
            "prompt.1",
        ),
        ("/v1/feedback", json.dumps({"id": "a\x00b", "score": 3}).encode(), "id"),
        # The page's test console takes the same body, answered in the same shape.
        (
            "/endpoints/8d4f2a52-0000-4000-8000-000000000000/console/",
            chat_with(messages=[{"role": "user", "content": "\x00"}]),
            "messages.0.content",
        ),
    ],
)
async def test_a_nul_anywhere_in_an_api_body_is_a_bad_request(path, body, param, api_key_header):
    response = await post(path, body, api_key_header)
    assert response["status"] == 400
    headers = dict(response["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert len(headers[b"x-request-id"]) == 36
    error = json.loads(response["body"])["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "invalid_value",
        param,
        "invalid_request_error",
    )
    assert "NUL" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        # The text "\u0000" (an escaped backslash, then "u0000") holds no NUL.
        chat_with(messages=[{"role": "user", "content": "a \\u0000 b"}]),
        # UTF-16 JSON is made of NUL bytes that are not NUL characters; the gateway reads it.
        json.dumps(CHAT).encode("utf-16"),
    ],
)
async def test_an_api_body_without_a_nul_reaches_the_gateway(body, api_key_header):
    response = await post("/v1/chat/completions", body, api_key_header)
    # The gateway's own answer (no such model, today), not the edge's refusal.
    assert response["status"] < 500
    assert b"NUL" not in response["body"]


async def test_a_nul_in_an_api_header_is_an_openai_shaped_bad_request():
    # Daphne's Twisted answers a raw NUL in a header with a bare 400 of its own before the
    # application runs (tests/site/test_edge_under_daphne.py); other ASGI servers pass it on.
    response = await get("/v1/models", (b"authorization", b"Bearer vf_live_a\x00b"))
    assert response["status"] == 400
    assert len(dict(response["headers"])[b"x-request-id"]) == 36
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_header"
    assert "'authorization' header" in error["message"]


async def test_a_nul_in_a_page_header_is_a_bad_request_page(session_cookie):
    response = await get("/catalog/", session_cookie, (b"user-agent", b"curl\x00"))
    assert response["status"] == 400
    assert b"<title>Bad request</title>" in response["body"]


async def test_urls_without_nul_still_reach_the_site(session_cookie, api_key_header):
    assert (await get("/catalog/smollm2-135m-instruct/", session_cookie))["status"] in (200, 404)
    assert (await get("/catalog/?q=small", session_cookie))["status"] == 200
    assert (await get("/v1/models", api_key_header))["status"] == 200


@pytest.mark.parametrize(
    "cookie",
    [
        # Django's cookie parser decodes an octal escape in a quoted value: the session key
        # looked up in PostgreSQL then held a NUL.
        b'sessionid="\\000abcdefghijk"',
        b"sessionid=abcdefgh\x00ijk",
        b'csrftoken=abc; sessionid="abcdefgh\\000"',
    ],
)
async def test_a_nul_in_a_cookie_is_a_bad_request_too(cookie):
    response = await get("/catalog/", (b"cookie", cookie))
    assert response["status"] == 400


async def test_a_nul_in_another_programs_cookie_is_not_ours_to_refuse():
    # On localhost every program's cookies come along; we never read this one.
    response = await get("/catalog/", (b"cookie", b'other_app="\\000x"; theme=dark'))
    assert response["status"] in (200, 302)  # the page, or the log-in it asks for


@pytest.mark.django_db
def test_a_nul_in_a_posted_form_is_a_bad_request(client, owner, project):
    # Views that read request.POST themselves passed it to PostgreSQL: a 500.
    client.force_login(owner)
    response = client.post(f"/projects/{project.pk}/agent/", {"text": "hello\x00world"})
    assert response.status_code == 400
    assert "This form cannot be sent" in response.content.decode()
    assert client.post(f"/projects/{project.pk}/agent/", {"text": "hello world"}).status_code < 500


@pytest.fixture(autouse=True)
def origin_allowed(monkeypatch):
    """The socket stack's Origin check copied ALLOWED_HOSTS when the application was imported,
    before the test settings added testserver to it."""
    app = application.application_mapping["websocket"]
    while not isinstance(app, OriginValidator):
        app = getattr(app, "app", None) or app.application  # each layer's inner application
    monkeypatch.setattr(app, "allowed_origins", ["testserver"])


async def socket(path: str, *headers) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(application, path, headers=[HOST, ORIGIN, *headers])
    try:
        return await communicator.connect(timeout=30)
    finally:
        await communicator.wait(timeout=5)  # the application ended without an exception


@pytest.mark.parametrize(
    "path", ["/ws/projects/not-a-uuid/", "/ws/nothing/", "/ws/", "/", "/ws/runs/", "/admin/"]
)
async def test_an_unknown_socket_path_is_closed_without_an_error(path, session_cookie):
    # Before: Channels' URLRouter raised "No route found for path", a 500 whose logged
    # traceback printed the whole scope, session cookie included.
    connected, code = await socket(path, session_cookie)
    assert not connected
    assert code == 4404


async def test_a_known_socket_path_still_connects(session_cookie, project):
    communicator = WebsocketCommunicator(
        application, f"/ws/projects/{project.pk}/", headers=[HOST, ORIGIN, session_cookie]
    )
    connected, _ = await communicator.connect(timeout=30)
    assert connected
    await communicator.disconnect()


async def test_a_socket_with_a_nul_is_refused(session_cookie, project):
    connected, code = await socket(f"/ws/projects/{project.pk}/%00", session_cookie)
    assert (connected, code) == (False, 4400)
    connected, code = await socket(
        f"/ws/projects/{project.pk}/", (b"cookie", b'sessionid="\\000abcdefghijk"')
    )
    assert (connected, code) == (False, 4400)
