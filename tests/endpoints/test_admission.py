"""What the gateway checks before a call reaches the shared server, against a real
`transformers serve`: OpenAI's parameters honoured or refused by name, prompts counted with the
model's tokenizer, calls in flight bounded, and the headers every answer carries."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from apps.endpoints import ratelimit
from apps.endpoints.gateway import inflight, tokens
from apps.endpoints.models import RequestLog
from tests.fakes.inference import MisbehavingServer

from .conftest import bearer, serve_from
from .test_gateway import assert_error, chat, post

RATE_HEADERS = {
    f"x-ratelimit-{what}-{unit}"
    for what in ("limit", "remaining", "reset")
    for unit in ("requests", "tokens")
}


def test_every_answer_carries_its_request_id_and_limits(client, deployed, api_key):
    ok = post(client, "/v1/chat/completions", chat(deployed), api_key)
    assert ok.status_code == 200
    row = RequestLog.objects.get()
    assert ok["x-request-id"] == str(row.id)  # what support looks up
    assert RATE_HEADERS <= set(ok.headers)
    assert int(ok["x-ratelimit-remaining-requests"]) == deployed.endpoint.rate_limit_rpm - 1
    assert ok["x-ratelimit-reset-requests"].endswith("s")
    refused = post(client, "/v1/chat/completions", chat(deployed, temperature=9), api_key)
    assert refused.status_code == 400 and refused["x-request-id"]
    assert RATE_HEADERS <= set(refused.headers)
    no_key = post(client, "/v1/chat/completions", chat(deployed))
    assert no_key.status_code == 401 and no_key["x-request-id"]
    assert client.get("/v1/nowhere")["x-request-id"]
    assert RATE_HEADERS <= set(client.get("/v1/models", **bearer(api_key)).headers)


def test_rate_limited_answers_say_what_is_left(client, deployed, api_key):
    deployed.endpoint.rate_limit_rpm = 1
    deployed.endpoint.save()
    post(client, "/v1/chat/completions", chat(deployed), api_key)
    limited = post(client, "/v1/chat/completions", chat(deployed), api_key)
    assert limited.status_code == 429
    assert limited["x-ratelimit-remaining-requests"] == "0"
    assert limited["x-ratelimit-limit-requests"] == "1"
    assert int(limited["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "changes, param, code",
    [
        ({"temperature": "hot"}, "temperature", "invalid_value"),
        ({"temperature": 9}, "temperature", "invalid_value"),
        ({"temperature": -1}, "temperature", "invalid_value"),
        ({"logit_bias": {"x": 1}}, "logit_bias", "invalid_value"),
        ({"logit_bias": {"999999999": 1}}, "logit_bias", "invalid_value"),  # past the vocab
        ({"n": 50}, "n", "invalid_value"),
        ({"stop": [f"s{i}" for i in range(5000)]}, "stop", "invalid_value"),
        ({"generation_config": '{"num_beams": 64}'}, "generation_config", "unknown_parameter"),
        ({"response_format": {"type": "json_object"}}, "response_format", "unsupported_parameter"),
        ({"logprobs": True}, "logprobs", "unsupported_parameter"),
        ({"presence_penalty": 0.5}, "presence_penalty", "unsupported_parameter"),
        (
            {"tools": [{"type": "function", "function": {"name": "lookup"}}]},
            "tools",
            "unsupported_parameter",
        ),
        ({"n": 2, "stream": True}, "n", "unsupported_parameter"),
        ({"store": True}, "store", "unsupported_parameter"),
    ],
)
def test_what_the_server_cannot_honour_is_refused_by_name(
    client, deployed, api_key, changes, param, code
):
    error = assert_error(
        post(client, "/v1/chat/completions", chat(deployed, **changes), api_key), 400, code
    )
    assert error["param"] == param
    assert param in error["message"]


def test_inert_values_and_identifiers_are_accepted(client, deployed, api_key):
    body = chat(
        deployed,
        logprobs=False,
        response_format={"type": "text"},
        user="customer-42",
        service_tier="auto",
        presence_penalty=0,
        stop=["\n\n"],
        seed=7,
    )
    response = post(client, "/v1/chat/completions", body, api_key)
    assert response.status_code == 200, response.content


def test_n_gives_n_choices_with_usage_for_all(client, deployed, api_key):
    response = post(client, "/v1/chat/completions", chat(deployed, n=3, max_tokens=3), api_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert all(c["message"]["role"] == "assistant" for c in body["choices"])
    usage = body["usage"]
    single = post(client, "/v1/chat/completions", chat(deployed, max_tokens=3), api_key).json()
    assert usage["prompt_tokens"] == single["usage"]["prompt_tokens"]  # counted once
    assert 3 <= usage["completion_tokens"] <= 9
    row = RequestLog.objects.order_by("created_at").first()
    assert (row.tokens_in, row.tokens_out) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_content_parts_of_text_are_honoured_and_images_refused(client, deployed, api_key):
    parts = [{"type": "text", "text": "how do i "}, {"type": "text", "text": "reset it"}]
    body = chat(deployed, messages=[{"role": "user", "content": parts}])
    assert post(client, "/v1/chat/completions", body, api_key).status_code == 200
    image = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    body = chat(deployed, messages=[{"role": "user", "content": image}])
    error = assert_error(
        post(client, "/v1/chat/completions", body, api_key), 400, "unsupported_parameter"
    )
    assert error["param"] == "messages.0.content"


def test_prompt_tokens_are_counted_with_the_models_tokenizer(client, deployed, api_key):
    body = chat(deployed)
    limits = tokens.limits_for(tokens.model_folder(deployed))
    counted = tokens.count_chat(limits, body["messages"])
    served = post(client, "/v1/chat/completions", body, api_key).json()["usage"]["prompt_tokens"]
    assert counted == served


def test_a_prompt_past_the_context_is_refused_before_the_server(
    client, deployed, api_key, settings
):
    limits = tokens.limits_for(tokens.model_folder(deployed))
    most = limits.per_call("transformers")
    long = "word " * (most + 10)
    body = chat(deployed, messages=[{"role": "user", "content": long}])
    error = assert_error(
        post(client, "/v1/chat/completions", body, api_key), 400, "context_length_exceeded"
    )
    assert error["param"] == "messages" and str(most) in error["message"]
    # Within the context but past the share of the server's cache one call may hold.
    settings.INFERENCE_KV_CACHE_GB = 0.0005
    smaller = tokens.limits_for(tokens.model_folder(deployed)).per_call("transformers")
    assert smaller < most
    body = chat(deployed, messages=[{"role": "user", "content": "word " * smaller}])
    error = assert_error(
        post(client, "/v1/chat/completions", body, api_key), 400, "context_length_exceeded"
    )
    assert "shared server" in error["message"]


def test_server_errors_reach_the_caller_without_the_servers_words(client, deployed, api_key):
    with MisbehavingServer() as upstream:
        serve_from(deployed, upstream.url, "error-500")
        error = assert_error(
            post(client, "/v1/chat/completions", chat(deployed), api_key), 502, "upstream_error"
        )
    assert "secret-internal" not in error["message"] and upstream.url not in error["message"]
    assert str(RequestLog.objects.get().id) in error["message"]  # quotable to support


def test_a_stream_whose_first_event_is_an_error_is_a_real_502(client, deployed, api_key):
    with MisbehavingServer() as upstream:
        serve_from(deployed, upstream.url, "error-first")
        response = post(client, "/v1/chat/completions", chat(deployed, stream=True), api_key)
    assert_error(response, 502, "upstream_error")
    assert RequestLog.objects.get().status_code == 502


async def test_calls_in_flight_are_bounded_per_key(
    async_client, transactional_db, seeded_catalog, deployed, api_key, settings
):
    settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY = 1
    with MisbehavingServer() as upstream:
        await sync_to_async(serve_from)(deployed, upstream.url, "slow")
        body = json.dumps(chat(deployed, stream=True))
        headers = {"Authorization": f"Bearer {api_key}"}
        first = await async_client.post(
            "/v1/chat/completions", body, content_type="application/json", headers=headers
        )
        assert first.status_code == 200  # streaming: its place is held until its last byte
        second = await async_client.post(
            "/v1/chat/completions", body, content_type="application/json", headers=headers
        )
        assert second.status_code == 429, second.content
        error = json.loads(second.content)["error"]
        assert error["code"] == "concurrency_limit_exceeded" and second["Retry-After"] == "1"
        await asyncio.to_thread(first.close)  # the caller hangs up: the place is given back
    await sync_to_async(serve_from)(deployed, deployed.server_url, deployed.served_model)
    third = await async_client.post(
        "/v1/chat/completions",
        json.dumps(chat(deployed)),
        content_type="application/json",
        headers=headers,
    )
    assert third.status_code == 200, third.content


async def test_a_busy_server_is_shared_fairly_between_teams():
    """Plain Redis: team A fills the server's slots; A's next call is refused after its wait,
    team B's first call gets in past the slots, and A's next one once B's share is taken."""
    server = [("http://test-fairness", 2)]  # (address, slots)
    held = []
    for call in range(2):
        places = await inflight.reserve(f"a{call}", "key-a", "team-a", 1, 30)
        assert await inflight.enter(places, server, "team-a", 1, 30, wait_s=0) == 0
        held.append(places)
    places = await inflight.reserve("a2", "key-a", "team-a", 1, 30)
    refused = await inflight.enter(places, server, "team-a", 1, 30, wait_s=0.2)
    assert isinstance(refused, inflight.Refused) and refused.scope == "server"
    await places.release()
    b = await inflight.reserve("b0", "key-b", "team-b", 1, 30)
    assert await inflight.enter(b, server, "team-b", 1, 30, wait_s=0) == 0  # past the slots
    await held[0].release()
    # Two teams, two slots: A's share is 1 and it still holds 1.
    places = await inflight.reserve("a3", "key-a", "team-a", 1, 30)
    assert isinstance(
        await inflight.enter(places, server, "team-a", 1, 30, wait_s=0), inflight.Refused
    )
    await held[1].release()
    assert await inflight.enter(places, server, "team-a", 1, 30, wait_s=0) == 0
    for p in (places, b):
        await p.release()


async def test_each_call_takes_the_replica_with_the_least_in_flight():
    """Plain Redis: calls spread over two replicas' servers by what each holds; a server whose
    team share is spent is passed over for one that admits the team."""
    servers = [("http://replica-a", 4), ("http://replica-b", 4)]
    taken = []
    for call in range(4):
        places = await inflight.reserve(f"c{call}", f"key-{call}", f"team-{call}", 1, 30)
        taken.append((await inflight.enter(places, servers, f"team-{call}", 1, 30, 0), places))
    assert sorted(index for index, _ in taken) == [0, 0, 1, 1]
    # Two calls end on replica a: it is now the less busy, and the next call goes there.
    done = [places for index, places in taken if index == 0]
    for places in done:
        await places.release()
    places = await inflight.reserve("c9", "key-9", "team-9", 1, 30)
    assert await inflight.enter(places, servers, "team-9", 1, 30, 0) == 0
    await places.release()
    # Weighted: a call of weight 3 counts as three.
    heavy = await inflight.reserve("h", "key-h", "team-h", 3, 30)
    first = await inflight.enter(heavy, servers, "team-h", 3, 30, 0)
    light = await inflight.reserve("l", "key-l", "team-l", 1, 30)
    assert await inflight.enter(light, servers, "team-l", 1, 30, 0) == 1 - first
    for _, places in taken:
        await places.release()
    await heavy.release()
    await light.release()


async def test_take_reserves_and_enters_in_one_script_as_the_two_steps_do(settings):
    """``take`` (the gateway's path) decides as reserve then enter: a server with room is
    taken; a full key is refused with nothing held; when the servers refuse the team the
    reserved places come back without a server, for the caller to hold while it waits."""
    settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY = 2
    server = [("http://test-take", 1)]  # one slot
    places, index = await inflight.take("t0", "key-t", "team-t", 1, 30, "ep-t", server)
    assert index == 0 and places.server_member == "team-t|t0|1"
    client = await ratelimit.client()
    assert await client.zcard(inflight.endpoint_set("ep-t")) == 1  # counted for the autoscaler
    # Same team, server full, the team holds its share: reserved, no server.
    waiting, none = await inflight.take("t1", "key-t", "team-t", 1, 30, "ep-t", server)
    assert none is None and waiting.server_member == ""
    assert await client.zcard("fl:key:key-t") == 2
    # The key's cap: a third call while two are held is refused before any server is tried.
    capped = await inflight.take("t3", "key-t", "team-v", 1, 30, "ep-t", server)
    assert isinstance(capped, inflight.Refused) and capped.scope == "key"
    assert capped.held == 2 and capped.limit == 2
    # The waiting call gets the server once the first call ends.
    entering = asyncio.ensure_future(inflight.enter(waiting, server, "team-t", 1, 30, wait_s=2))
    await asyncio.sleep(0.2)
    await places.release()
    assert await entering == 0
    await waiting.release()
    assert await client.zcard(inflight.endpoint_set("ep-t")) == 0
    assert await client.zcard("fl:key:key-t") == 0


async def test_a_call_cancelled_while_taking_its_places_holds_none():
    """A caller gone while the admitting script runs: what the script took is given back."""
    server = [("http://test-cancel", 4)]
    task = asyncio.ensure_future(inflight.take("c0", "key-c", "team-c", 1, 30, "ep-c", server))
    await asyncio.sleep(0)  # the script is on its way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    client = await ratelimit.client()
    for name in (
        "fl:key:key-c",
        "fl:team:team-c",
        "fl:endpoint:ep-c",
        "fl:server:http://test-cancel",
    ):
        assert await client.zcard(name) == 0, name
