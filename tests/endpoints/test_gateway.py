"""The /v1/ gateway against a real transformers serve: answers, logs, and every refusal in
OpenAI's error shape with the right status."""

from __future__ import annotations

import json
import socket
import threading
from decimal import Decimal

import pytest

from apps.endpoints import keys
from apps.endpoints.models import Deployment, EndpointStatus, RequestLog
from apps.projects.models import Project
from vibeflow_site.loop_local import open_clients

from .conftest import bearer, serve_from

CHAT = {
    "model": None,
    "messages": [{"role": "user", "content": "how do i reset my password"}],
    "max_tokens": 5,
}


def post(client, path, body, raw=None, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers = bearer(raw) if raw else {}
    return client.post(path, data, content_type="application/json", **headers, **extra)


def chat(deployed, **changes):
    return {**CHAT, "model": deployed.endpoint.name, **changes}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_chat_completion_answers_with_usage_and_is_logged(client, deployed, api_key):
    response = post(client, "/v1/chat/completions", chat(deployed), api_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == deployed.endpoint.name  # never the server's path
    assert body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 5
    row = RequestLog.objects.get()
    assert (row.status_code, row.route, row.deployment_id) == (200, "chat.completions", deployed.pk)
    assert (row.tokens_in, row.tokens_out) == (usage["prompt_tokens"], usage["completion_tokens"])
    # The price of docs/PRODUCT.md 6.2: $0.01 per 1,000 tokens
    assert row.cost == (Decimal("0.00001") * usage["total_tokens"]).quantize(Decimal("0.000001"))
    assert row.api_key.last_used_at is not None


def test_each_loops_upstream_session_closes_with_its_loop(client, deployed, api_key):
    """Django's test client runs every request in a fresh event loop: the session that loop
    made (upstream session, rate-limit client) must be closed and forgotten when the loop
    ends, not left holding its sockets."""
    before = open_clients()
    for _ in range(3):
        response = post(client, "/v1/chat/completions", chat(deployed), api_key)
        assert response.status_code == 200, response.content
    assert open_clients() == before


def test_legacy_completion_and_the_spec_route(client, deployed, api_key):
    response = post(
        client,
        "/v1/completions",
        {"model": deployed.endpoint.name, "prompt": "how do i cancel", "max_tokens": 3},
        api_key,
    )
    assert response.status_code == 200, response.content
    assert response.json()["usage"]["completion_tokens"] > 0
    response = post(client, "/v1/complete", {"prompt": "Hello", "max_tokens": 4}, api_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"id", "model", "completion", "tokens_used", "cost"}
    assert body["id"].startswith("req_") and body["tokens_used"] > 0
    assert body["cost"] == "$" + format(Decimal("0.00001") * body["tokens_used"], "f").rstrip("0")


# Streams are read with Django's async client, in the loop that made them; the view's ORM
# calls then run in another thread, so these tests need committed rows (transactional_db).
async def stream(async_client, body, raw) -> list[str]:
    response = await async_client.post(
        "/v1/chat/completions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


async def test_streaming_relays_chunks_then_done_and_logs_tokens(
    async_client, transactional_db, seeded_catalog, deployed, api_key
):
    events = await stream(async_client, chat(deployed, stream=True), api_key)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["model"] == deployed.endpoint.name for c in chunks)
    assert all("usage" not in c for c in chunks)  # the caller did not ask for it
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text
    row = await RequestLog.objects.aget()
    assert row.streamed and row.status_code == 200 and 0 < row.tokens_out <= 5


async def test_a_caller_that_hangs_up_at_done_has_a_finished_call(
    async_client, transactional_db, seeded_catalog, deployed, api_key
):
    """Clients close the connection as soon as they read [DONE] (the openai client does), and
    the rest of the response may then never run: the call is logged and billed as answered
    before [DONE] goes out (the suite once waited for a row that never came)."""
    response = await async_client.post(
        "/v1/chat/completions",
        json.dumps(chat(deployed, stream=True)),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    async for chunk in response.streaming_content:
        if b"[DONE]" in chunk:
            break  # and never read on, like the caller
    row = await RequestLog.objects.aget()
    assert row.streamed and (row.status_code, row.error_code) == (200, "") and row.tokens_out > 0


async def test_streaming_usage_when_asked(
    async_client, transactional_db, seeded_catalog, deployed, api_key
):
    body = chat(deployed, stream=True, stream_options={"include_usage": True})
    events = await stream(async_client, body, api_key)
    usages = [json.loads(e)["usage"] for e in events[:-1] if "usage" in json.loads(e)]
    assert (
        usages and usages[-1]["completion_tokens"] == (await RequestLog.objects.aget()).tokens_out
    )


def test_models_list_only_this_projects_live_endpoints(client, deployed, api_key):
    response = client.get("/v1/models", **bearer(api_key))
    assert response.json() == {
        "object": "list",
        "data": [
            {
                "id": deployed.endpoint.name,
                "object": "model",
                "created": int(deployed.endpoint.created_at.timestamp()),
                "owned_by": "vibeflow",
            }
        ],
    }
    assert client.get(f"/v1/models/{deployed.endpoint.name}", **bearer(api_key)).status_code == 200
    assert_error(client.get("/v1/models/nope", **bearer(api_key)), 404, "model_not_found")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "vf_live_abc"},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    ],
)
def test_missing_or_malformed_key_is_401(client, deployed, headers):
    response = client.post(
        "/v1/chat/completions",
        json.dumps(chat(deployed)),
        content_type="application/json",
        **headers,
    )
    assert_error(response, 401, "missing_api_key")
    assert not RequestLog.objects.exists()  # no project to bill it to; the app log has it


def test_unknown_revoked_expired_and_other_projects_keys(client, deployed, api_key, owner, team):
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), "vf_live_guess"),
        401,
        "invalid_api_key",
    )
    other = Project.objects.create(team=team, name="Other", created_by=owner)
    _, other_raw = keys.create_key(other, owner)
    # A valid key of another project does not see this project's model.
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), other_raw), 404, "model_not_found"
    )
    key = deployed.endpoint.project.api_keys.get()
    keys.revoke_key(key)
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), api_key), 401, "invalid_api_key"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages.0.content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5},
            "max_tokens",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9},
            "max_tokens",
        ),
        ({"model": "m", "messages": "hello"}, "messages"),
    ],
)
def test_bad_bodies_name_the_field(client, deployed, api_key, body, param):
    error = assert_error(post(client, "/v1/chat/completions", body, api_key), 400, "invalid_value")
    assert error["param"] == param
    row = RequestLog.objects.get()
    assert (row.status_code, row.error_code) == (400, "invalid_value")


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        "",
        "\xff\xfe",
        '{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
        '{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',
        "[" * 100_000,
    ],
)
def test_body_that_is_not_a_json_object(client, deployed, api_key, raw):
    response = post(client, "/v1/chat/completions", raw, api_key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_json", "invalid_body")


def test_ten_megabyte_prompt_is_413(client, deployed, api_key):
    body = chat(deployed, messages=[{"role": "user", "content": "x" * (10 * 1024 * 1024)}])
    assert_error(post(client, "/v1/chat/completions", body, api_key), 413, "request_too_large")


def test_spec_route_refuses_unknown_fields_and_bad_limits(client, deployed, api_key):
    assert_error(post(client, "/v1/complete", {"prompt": ""}, api_key), 400, "invalid_value")
    assert_error(
        post(client, "/v1/complete", {"prompt": "hi", "max_tokens": 0}, api_key),
        400,
        "invalid_value",
    )
    error = assert_error(
        post(client, "/v1/complete", {"prompt": "hi", "bogus": 1}, api_key),
        400,
        "unknown_parameter",
    )
    assert error["param"] == "bogus"


def test_wrong_method_and_unknown_route(client, deployed, api_key):
    response = client.get("/v1/chat/completions", **bearer(api_key))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert_error(client.get("/v1/engines", **bearer(api_key)), 404, "unknown_route")


def test_stopped_and_not_yet_live_endpoints_are_503(client, deployed, api_key):
    endpoint = deployed.endpoint
    endpoint.status = EndpointStatus.STOPPED
    endpoint.save()
    error = assert_error(
        post(client, "/v1/chat/completions", chat(deployed), api_key), 503, "model_not_ready"
    )
    assert "stopped" in error["message"]
    endpoint.status = EndpointStatus.LIVE
    endpoint.save()
    Deployment.objects.filter(pk=deployed.pk).update(weight=0)
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), api_key), 503, "model_not_ready"
    )


def test_rate_limit_is_429_with_retry_after(client, deployed, api_key):
    endpoint = deployed.endpoint
    endpoint.rate_limit_rpm = 2
    endpoint.save()
    body = chat(deployed, max_tokens=1)
    codes = [post(client, "/v1/chat/completions", body, api_key).status_code for _ in range(2)]
    assert codes == [200, 200]
    response = post(client, "/v1/chat/completions", body, api_key)
    error = assert_error(response, 429, "rate_limit_exceeded")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "2 requests per minute" in error["message"]
    assert RequestLog.objects.filter(status_code=429).count() == 1


def test_tokens_per_minute_limit(client, deployed, api_key):
    endpoint = deployed.endpoint
    endpoint.tokens_per_minute = 10
    endpoint.save()
    assert post(client, "/v1/chat/completions", chat(deployed), api_key).status_code == 200
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), api_key), 429, "rate_limit_exceeded"
    )


def test_dead_server_is_502_and_others_keep_being_served(client, deployed, api_key):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    serve_from(deployed, dead)
    assert_error(
        post(client, "/v1/chat/completions", chat(deployed), api_key), 502, "upstream_unreachable"
    )
    serve_from(deployed, deployed.server_url)
    assert post(client, "/v1/chat/completions", chat(deployed), api_key).status_code == 200


def test_silent_server_is_504_after_the_endpoint_timeout(client, deployed, api_key):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    serve_from(deployed, f"http://127.0.0.1:{listener.getsockname()[1]}")
    endpoint = deployed.endpoint
    endpoint.timeout_s = 1
    endpoint.save()
    try:
        error = assert_error(
            post(client, "/v1/chat/completions", chat(deployed), api_key), 504, "timeout"
        )
        assert "1 s" in error["message"]
    finally:
        listener.close()
    assert RequestLog.objects.get().status_code == 504


def test_feedback_is_recorded_on_this_projects_requests_only(
    client, deployed, api_key, owner, team
):
    answer = post(client, "/v1/chat/completions", chat(deployed), api_key).json()
    response = post(client, "/v1/feedback", {"id": answer["id"], "score": 5}, api_key)
    assert response.status_code == 200
    assert RequestLog.objects.get(route="chat.completions").feedback == 5
    other = Project.objects.create(team=team, name="Other", created_by=owner)
    _, other_raw = keys.create_key(other, owner)
    assert_error(
        post(client, "/v1/feedback", {"id": answer["id"], "score": 1}, other_raw),
        404,
        "request_not_found",
    )
    assert_error(
        post(client, "/v1/feedback", {"id": "not-an-id", "score": 1}, api_key),
        404,
        "request_not_found",
    )
    assert_error(
        post(client, "/v1/feedback", {"id": answer["id"], "score": 9}, api_key),
        400,
        "invalid_value",
    )
    assert RequestLog.objects.get(route="chat.completions").feedback == 5


def test_stream_options_that_is_not_an_object(client, deployed, api_key):
    body = chat(deployed, stream=True, stream_options="yes")
    assert_error(post(client, "/v1/chat/completions", body, api_key), 400, "invalid_value")


def test_routes_without_an_endpoint_have_a_quota_of_their_own(client, deployed, api_key, settings):
    settings.GATEWAY_METADATA_RPM = 2
    deployed.endpoint.rate_limit_rpm = 1
    deployed.endpoint.save()
    codes = [client.get("/v1/models", **bearer(api_key)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    # Listing models spent none of the generation quota (one call a minute here).
    assert post(client, "/v1/chat/completions", chat(deployed), api_key).status_code == 200
