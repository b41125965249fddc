"""The endpoint page tells the truth about what callers got. Its server once died: every call got
502 for ten minutes while the page said "Live — Your model is live!", with uptime counted from
probes alone and the quick 502s pulling its p50 latency down."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import BaseModel, Hardware
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    Endpoint,
    EndpointStatus,
    HealthCheck,
    RequestLog,
    when,
)
from apps.endpoints.tasks import check_endpoints
from apps.training.models import RunStatus, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(project, owner, tmp_path) -> Deployment:
    """A version serving all of a live endpoint's traffic (no server behind it: the calls and
    probes below are rows written as the gateway and check_endpoints write them)."""
    run = TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        adapter_dir=str(tmp_path),
    )
    endpoint = Endpoint.objects.create(
        project=project,
        name="support-bot",
        status=EndpointStatus.LIVE,
        rate_limit_rpm=60,
        tokens_per_minute=10_000,
        timeout_s=30,
    )
    return Deployment.objects.create(
        endpoint=endpoint,
        run=run,
        status=DeploymentStatus.READY,
        weight=100,
        server_url="http://inference.test",
        created_by=owner,
    )


def call(deployment, at, status=200, error_code="", latency=800.0, streamed=False) -> RequestLog:
    row = RequestLog.objects.create(
        project=deployment.endpoint.project,
        endpoint=deployment.endpoint,
        deployment=deployment,
        route="chat",
        status_code=status,
        error_code=error_code,
        latency_ms=latency,
        streamed=streamed,
    )
    RequestLog.objects.filter(pk=row.pk).update(created_at=at)  # auto_now_add ignores ours
    return row


def probe(deployment, at, ok) -> None:
    row = HealthCheck.objects.create(endpoint=deployment.endpoint, ok=ok, latency_ms=3)
    HealthCheck.objects.filter(pk=row.pk).update(created_at=at)


def outage(deployment) -> datetime:
    """Twenty quiet minutes (a call answered in 800 ms and a passing probe each minute), then
    ten minutes in which its server is dead: three 502s in 5 ms and a failed probe each minute.
    One timestamp per minute, so each lands in its own minute. Returns the first failure's."""
    now = timezone.now()
    for minutes_ago in range(30, 10, -1):
        at = now - timedelta(minutes=minutes_ago)
        call(deployment, at)
        probe(deployment, at, ok=True)
    for minutes_ago in range(10, 0, -1):
        at = now - timedelta(minutes=minutes_ago)
        for _ in range(3):
            call(deployment, at, status=502, error_code="upstream_error", latency=5.0)
        probe(deployment, at, ok=False)
    return now - timedelta(minutes=10)


def page(client, deployment) -> str:
    url = reverse("endpoint_detail", args=[deployment.endpoint_id])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def badge(html: str) -> str:
    return html.split('id="endpoint-status"', 1)[1].split("</span></span>", 1)[0]


def test_it_says_not_answering_since_the_first_failure(login, member, live):
    first_failure = outage(live)
    html = page(login(member), live)
    live.endpoint.refresh_from_db()
    assert live.endpoint.down_since == first_failure
    since = when(first_failure)
    # The last five minutes hold four of the dead minutes' calls: twelve, all failed.
    sentence = f"Not answering since {since} — 12 of the last 12 calls failed"
    assert sentence in html
    assert f"🔴 Not answering since {since}" in badge(html)
    assert "12 of the last 12 calls failed" in badge(html)
    assert "its latest health check failed" in html
    assert "🔴 Your model is not answering" in html
    assert "Your model is live!" not in html
    assert "🟢 Live" not in html  # in the badge, nor beside the version taking the traffic


def test_figures_count_the_failures_and_p50_ignores_their_quick_answers(login, member, live):
    outage(live)
    html = page(login(member), live)
    latency = html.split('data-testid="latency">', 1)[1].split("</td>", 1)[0]
    # 20 answered in 800 ms and 30 failed in 5 ms: a p50 over all of them said 5 ms.
    assert latency.startswith("800 / 800 / 800 ms") and "over the 20 answered calls" in latency
    failed = html.split('data-testid="failed-calls">', 1)[1].split("</td>", 1)[0]
    assert failed.startswith("30 of 50 (60%)")
    # Uptime from the minutes: 20 of the 30 with calls or probes were answered.
    assert "66.67%" in html and "answered in 20 of the 30 minutes" in html
    assert "30 of 50 calls failed (60.0%; alert above 1%)." in html


def test_the_since_holds_while_the_outage_lasts(login, member, live):
    first_failure = outage(live)
    client = login(member)
    page(client, live)
    now = timezone.now()
    for seconds in (20, 10):  # more failures, and the rows older than five minutes are gone:
        call(live, now - timedelta(seconds=seconds), status=504, error_code="timeout")
    RequestLog.objects.filter(created_at__lt=now - timedelta(minutes=5)).delete()
    HealthCheck.objects.filter(created_at__lt=now - timedelta(minutes=5)).delete()
    html = page(client, live)  # the rows alone would now say "since" four minutes ago
    assert f"Not answering since {when(first_failure)} — 14 of the last 14 calls failed" in html


def test_recovery_clears_it(login, member, live):
    outage(live)
    client = login(member)
    assert "Not answering" in page(client, live)
    now = timezone.now()
    for seconds in range(13, 0, -1):  # the server is back: answers outnumber the failures
        call(live, now - timedelta(seconds=seconds))
    html = page(client, live)
    live.endpoint.refresh_from_db()
    assert live.endpoint.down_since is None
    assert "Not answering" not in html
    assert "✅ Your model is live!" in html and "🟢 Live" in badge(html)


def test_a_broken_stream_is_a_failure_and_a_refusal_is_none(login, member, live):
    now = timezone.now()
    for seconds in (50, 40, 30):
        call(live, now - timedelta(seconds=seconds))
    # The caller saw 200, then an error event: the gateway logs the status it sent.
    broken = call(
        live, now - timedelta(seconds=20), error_code="upstream_error", latency=40, streamed=True
    )
    for seconds in (15, 10):  # a bad key: the caller's mistake
        call(live, now - timedelta(seconds=seconds), status=401, error_code="invalid_api_key")
    client = login(member)
    html = page(client, live)
    assert "Not answering" not in html and "Your model is live!" in html  # one failure of four
    failed = html.split('data-testid="failed-calls">', 1)[1].split("</td>", 1)[0]
    assert failed.startswith("1 of 6 (16.7%)")
    assert "800 / 800 / 800 ms" in html
    logs = client.get(
        reverse("endpoint_logs", args=[live.endpoint_id]), {"status": "errors"}
    ).content.decode()
    assert str(broken.pk) in logs and "200, then failed" in logs


def test_two_failed_calls_of_two_are_an_outage_one_is_not(login, member, live):
    client = login(member)
    now = timezone.now()
    call(live, now - timedelta(seconds=30), status=502, error_code="upstream_error")
    assert "Not answering" not in page(client, live)
    call(live, now - timedelta(seconds=20), status=502, error_code="upstream_error")
    assert "Not answering since" in page(client, live)


def test_check_endpoints_records_the_outage_and_the_recovery(login, member, live, monkeypatch):
    def dead(url, timeout):
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr("apps.endpoints.servers.httpx.get", dead)
    assert check_endpoints() == 1
    endpoint = Endpoint.objects.get(pk=live.endpoint_id)
    failed = HealthCheck.objects.get()
    assert not failed.ok and endpoint.down_since == failed.created_at
    # Lists read the row: "since when" shows there too, with no call to read.
    client = login(member)
    listing = client.get(reverse("project_endpoints", args=[endpoint.project_id])).content.decode()
    assert f"🔴 Not answering since {when(failed.created_at)}" in listing
    html = page(client, live)
    assert f"Not answering since {when(failed.created_at)} — its latest health check failed" in html

    monkeypatch.setattr(
        "apps.endpoints.servers.httpx.get", lambda url, timeout: httpx.Response(200, text="ok")
    )
    check_endpoints()
    endpoint.refresh_from_db()
    assert endpoint.down_since is None
    assert "Your model is live!" in page(client, live)


def test_a_stopped_endpoint_keeps_no_outage(live, monkeypatch):
    Endpoint.objects.filter(pk=live.endpoint_id).update(
        status=EndpointStatus.STOPPED, down_since=timezone.now()
    )
    monkeypatch.setattr("apps.endpoints.servers.httpx.get", pytest.fail)  # nothing is probed
    assert check_endpoints() == 0
    assert Endpoint.objects.get(pk=live.endpoint_id).down_since is None


def test_the_page_polls_its_health_and_redraws_the_badge(login, member, live):
    outage(live)
    client = login(member)
    html = page(client, live)
    assert "?part=health" in html.split('id="endpoint-health"', 1)[1].split(">", 1)[0]
    url = reverse("endpoint_detail", args=[live.endpoint_id])
    part = client.get(url, {"part": "health"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="endpoint-health"' in part and "Not answering since" in part
    assert 'hx-swap-oob="true"' in badge(part) and "Not answering since" in badge(part)


def test_each_call_shows_its_request_id_and_the_logs_find_it(login, member, live):
    now = timezone.now()
    answered = call(live, now - timedelta(seconds=30))
    failed = call(live, now - timedelta(seconds=20), status=502, error_code="upstream_error")
    client = login(member)
    html = page(client, live)
    calls = html.split('data-testid="recent-calls"', 1)[1].split("</table>", 1)[0]
    assert str(answered.pk) in calls and str(failed.pk) in calls
    assert "❌ 502" in calls
    logs_url = reverse("endpoint_logs", args=[live.endpoint_id])
    logs = client.get(logs_url).content.decode()
    assert str(answered.pk) in logs and str(failed.pk) in logs
    # What a caller quotes: the x-request-id header, or the answer's id, which carries it.
    for quoted in (str(failed.pk), f"chatcmpl-{failed.pk.hex}"):
        found = client.get(logs_url, {"request": quoted}).content.decode()
        assert str(failed.pk) in found and str(answered.pk) not in found, quoted
    missing = client.get(logs_url, {"request": "not-an-id"}).content.decode()
    assert "No call of this endpoint has the id" in missing


def test_another_teams_endpoint_is_a_404(login, outsider, live):
    outage(live)
    client = login(outsider)
    url = reverse("endpoint_detail", args=[live.endpoint_id])
    assert client.get(url).status_code == 404
    assert client.get(url, {"part": "health"}, HTTP_HX_REQUEST="true").status_code == 404
    logs_url = reverse("endpoint_logs", args=[live.endpoint_id])
    assert client.get(logs_url, {"request": str(RequestLog.objects.first().pk)}).status_code == 404
