"""Production feedback becomes the next dataset: an endpoint that keeps content stores each call's
prompt and answer (one that does not, nothing), feedback attaches a correction, the page lists
low-scored calls, chosen calls become a dataset version that is analysed like an upload, and
kept content is purged after its retention."""

from __future__ import annotations

import datetime
import json
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.datasets.builder import analyse_version
from apps.datasets.models import VersionStatus
from apps.endpoints import production
from apps.endpoints.models import Endpoint, LoggedCall, RequestLog
from apps.projects.models import Project

from .test_gateway import assert_error, chat, post

QUESTION = "how do i reset my password"


def _keep(deployed, on=True, days=30):
    Endpoint.objects.filter(pk=deployed.endpoint_id).update(
        log_content=on, content_retention_days=days
    )
    # The gateway reads endpoints from its directory, looked up again when it changes.
    from apps.endpoints.version import bump

    bump()


def test_calls_keep_no_content_unless_the_endpoint_asks(client, deployed, api_key):
    answer = post(client, "/v1/chat/completions", chat(deployed), api_key).json()
    assert RequestLog.objects.count() == 1 and not LoggedCall.objects.exists()
    # With a correction but nothing kept, the score is recorded and the correction is not.
    response = post(
        client, "/v1/feedback", {"id": answer["id"], "score": 1, "correction": "Settings."}, api_key
    )
    assert response.json() == {
        "id": answer["id"],
        "score": 1,
        "recorded": True,
        "correction_kept": False,
    }


def test_kept_calls_and_their_corrections(client, deployed, api_key, owner, team):
    _keep(deployed)
    answer = post(client, "/v1/chat/completions", chat(deployed), api_key).json()
    kept = LoggedCall.objects.get()
    assert kept.messages == [{"role": "user", "content": QUESTION}]
    assert kept.answer == answer["choices"][0]["message"]["content"] and kept.answer
    # Feedback with a correction attaches it to the kept call.
    correction = "Open Settings, then Security, then Reset password."
    response = post(
        client,
        "/v1/feedback",
        {"id": answer["id"], "score": 1, "correction": correction},
        api_key,
    )
    assert response.json()["correction_kept"] is True
    kept.refresh_from_db()
    assert kept.correction == correction and kept.request.feedback == 1
    # Bad corrections are refused whole: nothing changes.
    for bad in ("", 5, ["a list"], "x" * 40_000, "nul \u0000 inside"):
        body = {"id": answer["id"], "score": 2, "correction": bad}
        response = post(client, "/v1/feedback", body, api_key)
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"]["param"] == "correction"
    kept.refresh_from_db()
    assert kept.correction == correction and kept.request.feedback == 1
    # Another project's key cannot touch it.
    other = Project.objects.create(team=team, name="Other", created_by=owner)
    from apps.endpoints import keys

    _, other_raw = keys.create_key(other, owner)
    assert_error(
        post(
            client,
            "/v1/feedback",
            {"id": answer["id"], "score": 5, "correction": "mine now"},
            other_raw,
        ),
        404,
        "request_not_found",
    )
    kept.refresh_from_db()
    assert kept.correction == correction


async def test_a_streamed_call_keeps_the_text_the_caller_read(
    async_client, transactional_db, seeded_catalog, deployed, api_key
):
    from asgiref.sync import sync_to_async

    from .test_gateway import stream

    await sync_to_async(_keep)(deployed)
    events = await stream(async_client, chat(deployed, stream=True), api_key)
    text = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in (json.loads(e) for e in events[:-1])
        if c["choices"]
    )
    kept = await LoggedCall.objects.aget()
    assert text and kept.answer == text and kept.messages[-1]["content"] == QUESTION


def test_low_scored_calls_become_a_dataset_version(client, login, deployed, api_key, owner, viewer):
    _keep(deployed)
    ids = [post(client, "/v1/chat/completions", chat(deployed), api_key).json()["id"] for _ in "ab"]
    post(client, "/v1/feedback", {"id": ids[0], "score": 1, "correction": "Use Settings."}, api_key)
    post(client, "/v1/feedback", {"id": ids[1], "score": 2}, api_key)  # low, no correction
    page = login(owner)
    endpoint = deployed.endpoint
    html = unescape(page.get(reverse("endpoint_detail", args=[endpoint.pk])).content.decode())
    assert 'data-testid="low-scored-calls"' in html and "Use Settings." in html
    assert "1/5" in html and "2/5" in html
    # A viewer may look but not build; another team's member gets a 404.
    url = reverse("endpoint_build_dataset", args=[endpoint.pk])
    assert login(viewer).post(url, {"selection": "corrected"}).status_code == 403
    page = login(owner)
    response = page.post(url, {"selection": "corrected"})
    version = endpoint.project.datasets.get(name=f"{endpoint.name} production calls").latest
    assert response.url == reverse("version_detail", args=[version.pk])
    assert version.number == 1 and "1 low-scored calls with their corrections" in version.reason
    # Analysed like an upload: the chat format is detected and the correction is what is taught.
    analyse_version(str(version.pk))
    version.refresh_from_db()
    assert version.status == VersionStatus.READY, version.error
    rows = [
        json.loads(line)
        for name in ("train.jsonl", "test.jsonl")
        if (version.folder / name).exists()
        for line in (version.folder / name).open()
    ]
    assert len(rows) == 1
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": "Use Settings."}
    # A second build is the next version of the same dataset; a day's calls leave out the
    # low-scored one that has no correction.
    page.post(url, {"selection": "day", "day": timezone.localdate().isoformat()})
    latest = endpoint.project.datasets.get(name=f"{endpoint.name} production calls").latest
    assert latest.number == 2 and "1 calls of" in latest.reason


@pytest.mark.parametrize(
    "form, sentence",
    [
        ({"selection": "day"}, "Choose the day whose calls to use."),
        ({"selection": "everything"}, "Select a valid choice"),
        ({"selection": "day", "day": "yesterday-ish"}, "Enter a valid date."),
        ({"selection": "corrected"}, "No kept call scored low has a correction yet"),
        ({"selection": "day", "day": "2001-01-01"}, "No call of Jan 1, 2001 can be used"),
    ],
)
def test_a_build_with_nothing_to_use_says_why_and_makes_nothing(
    client, login, deployed, owner, form, sentence
):
    _keep(deployed)
    page = login(owner)
    url = reverse("endpoint_build_dataset", args=[deployed.endpoint_id])
    html = unescape(page.post(url, form, follow=True).content.decode())
    assert sentence in html
    assert not deployed.endpoint.project.datasets.filter(name__endswith="production calls").exists()


def test_another_teams_endpoint_is_a_404(login, deployed, outsider):
    url = reverse("endpoint_build_dataset", args=[deployed.endpoint_id])
    assert login(outsider).post(url, {"selection": "corrected"}).status_code == 404


def test_kept_content_is_purged_after_its_retention(client, deployed, api_key):
    _keep(deployed, days=3)
    post(client, "/v1/chat/completions", chat(deployed), api_key)
    kept = LoggedCall.objects.get()
    now = timezone.now()
    assert production.purge(now + datetime.timedelta(days=2)) == 0
    assert production.purge(now + datetime.timedelta(days=3, minutes=1)) == 1
    assert not LoggedCall.objects.exists()
    assert RequestLog.objects.filter(pk=kept.request_id).exists()  # the log row stays


def test_what_cannot_be_a_plain_conversation_is_not_kept(client, deployed, api_key):
    """Text parts are joined and developer is system; a call with tool turns keeps nothing
    (but is logged and billed as always)."""
    _keep(deployed)
    parts = chat(
        deployed,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
    )
    assert post(client, "/v1/chat/completions", parts, api_key).status_code == 200
    kept = LoggedCall.objects.get()
    assert kept.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    from apps.endpoints.gateway import content

    tool_turns = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
    ]
    assert content.prompt_messages("chat", {"messages": tool_turns}) is None
    assert content.kept([{"role": "user", "content": "hi"}], "nul \x00 answer") is None
    assert content.kept([{"role": "user", "content": "hi"}], "") is None


def test_settings_turn_keeping_on_within_bounds(login, deployed, owner):
    page = login(owner)
    endpoint = deployed.endpoint
    url = reverse("endpoint_settings", args=[endpoint.pk])
    base = {
        "rate_limit_rpm": endpoint.rate_limit_rpm,
        "tokens_per_minute": endpoint.tokens_per_minute,
        "timeout_s": endpoint.timeout_s,
    }
    assert (
        page.post(url, {**base, "log_content": "on", "content_retention_days": 400}).status_code
        == 400
    )
    endpoint.refresh_from_db()
    assert not endpoint.log_content
    page.post(url, {**base, "log_content": "on", "content_retention_days": 7})
    endpoint.refresh_from_db()
    assert endpoint.log_content and endpoint.content_retention_days == 7
    # Turned off, what was kept goes at once.
    request = RequestLog.objects.create(
        project=endpoint.project,
        endpoint=endpoint,
        route="chat.completions",
        status_code=200,
        latency_ms=1.0,
    )
    LoggedCall.objects.create(request=request, endpoint=endpoint, messages=[], answer="a")
    html = unescape(page.post(url, base, follow=True).content.decode())
    assert "the 1 kept so far were deleted" in html
    assert not LoggedCall.objects.exists() and RequestLog.objects.filter(pk=request.pk).exists()
