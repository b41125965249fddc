"""The official openai client, unchanged, against the gateway served by Daphne; and the
streams that go wrong: a caller hanging up, a server dying mid-answer."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from apps.endpoints.models import RequestLog
from tests.e2e.conftest import wait_for
from tests.endpoints.conftest import serve_from
from tests.fakes.inference import MisbehavingServer

pytestmark = pytest.mark.e2e


def test_the_openai_client_works_unchanged(live_server_url, deployed, api_key):
    name = deployed.endpoint.name
    client = OpenAI(base_url=f"{live_server_url}/v1", api_key=api_key, max_retries=0)
    assert [m.id for m in client.models.list()] == [name]
    assert client.models.retrieve(name).id == name

    completion = client.completions.create(model=name, prompt="how do i", max_tokens=3)
    assert completion.model == name and completion.usage.completion_tokens > 0

    chat = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "where is my invoice"}], max_tokens=4
    )
    assert chat.choices[0].message.role == "assistant" and chat.usage.total_tokens > 0

    stream = client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "where is my invoice"}],
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.model == name for c in chunks)

    with pytest.raises(openai.AuthenticationError):
        OpenAI(
            base_url=f"{live_server_url}/v1", api_key="vf_live_wrong", max_retries=0
        ).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "hi"}], max_tokens=0
        )
    # Rows are written once each answer has gone out: wait for the last one.
    wait_for(lambda: RequestLog.objects.count() == 5, 30, "five log rows")
    codes = sorted(RequestLog.objects.values_list("status_code", flat=True))
    assert codes == [
        200,
        200,
        200,
        400,
        404,
    ]  # models calls are not billed; the bad key has no project


def test_a_huge_body_is_refused_before_it_is_read(live_server_url, deployed, api_key):
    response = httpx.post(
        f"{live_server_url}/v1/chat/completions",
        content=b"x" * (10 * 1024 * 1024),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def _stream_body(model):
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "max_tokens": 8,  # within the tiny model's context, which the gateway checks
    }


def test_a_caller_hanging_up_mid_stream_is_logged_and_others_are_served(
    live_server_url,
    deployed,
    api_key,
):
    with MisbehavingServer() as upstream:
        serve_from(deployed, upstream.url, "slow")
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.stream(
            "POST",
            f"{live_server_url}/v1/chat/completions",
            json=_stream_body(deployed.endpoint.name),
            headers=headers,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    break  # hang up after the first words
        row = wait_for(
            lambda: RequestLog.objects.filter(status_code=499).first(), 30, "the 499 log row"
        )
        assert row.streamed and row.error_code == "client_closed_request"
        assert row.tokens_out > 0  # what was sent before the hang-up is counted
        assert upstream.finished == 0  # the gateway let go of the server's stream too
    serve_from(deployed, deployed.server_url, deployed.served_model)
    client = OpenAI(base_url=f"{live_server_url}/v1", api_key=api_key, max_retries=0)
    answer = client.chat.completions.create(
        model=deployed.endpoint.name, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert answer.choices


@pytest.mark.parametrize("failure", ["dies", "huge-line"])
def test_a_server_dying_mid_answer_ends_the_stream_with_an_error(
    live_server_url, deployed, api_key, failure
):
    """A server that drops the connection, or sends a line past the reader's limit: the
    caller, who already had a 200, gets an error event and [DONE]; the log says what the
    caller saw: 200, with the error's code."""
    with MisbehavingServer() as upstream:
        serve_from(deployed, upstream.url, failure)
        response = httpx.post(
            f"{live_server_url}/v1/chat/completions",
            json=_stream_body(deployed.endpoint.name),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert '"code":"upstream_error"' in events[-2] and events[-1] == "[DONE]"
    assert response.status_code == 200
    row = wait_for(
        lambda: RequestLog.objects.filter(error_code="upstream_error").first(), 30, "the row"
    )
    assert row.streamed and row.status_code == 200


async def test_a_stream_never_started_still_releases_the_server_and_is_logged(
    async_client, transactional_db, seeded_catalog, deployed, api_key
):
    from asgiref.sync import sync_to_async

    with MisbehavingServer() as upstream:
        await sync_to_async(serve_from)(deployed, upstream.url, "slow")
        response = await async_client.post(
            "/v1/chat/completions",
            _stream_body(deployed.endpoint.name),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_key}"},
        )
        assert response.status_code == 200
        await sync_to_async(response.close)()  # the caller left before the first byte
        row = await RequestLog.objects.aget()
        assert (row.status_code, row.error_code) == (499, "client_closed_request")
        assert upstream.finished == 0
