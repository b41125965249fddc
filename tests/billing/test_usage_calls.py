"""The usage page's API-call figures come from one query: the summary, the table by endpoint and
the sentence shown when there are none can never disagree (it once said "API calls 1" beside
"No API calls this month": a call that failed used no tokens, so it left a log row but no usage
event, and the two figures were counted from different tables)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing.metering import record_request
from apps.billing.models import UsageEvent
from apps.endpoints import keys
from apps.endpoints.models import Endpoint, RequestLog
from apps.workspace import usage as dashboard

pytestmark = pytest.mark.django_db


def test_a_call_that_failed_is_a_call_in_every_figure(client, login, owner, team, project):
    # The exact case: a key used before anything answers (a model name that does not exist);
    # the gateway logs the call, which used no tokens and bills nothing.
    _, raw = keys.create_key(project, owner, "tests")
    response = client.post(
        "/v1/chat/completions",
        json.dumps({"model": "not-deployed-yet", "messages": [{"role": "user", "content": "hi"}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 404
    assert RequestLog.objects.count() == 1 and not UsageEvent.objects.exists()

    html = login(owner).get(reverse("team_usage", args=[team.pk])).content.decode()
    assert "No API calls" not in html
    assert '<dd id="usage-api-calls">1 ' in html and "1 failed" in html
    table = html.split('id="usage-by-endpoint"', 1)[1].split("</table>", 1)[0]
    assert "(unknown model)" in table and project.name in table
    assert "<td>1</td><td>1</td><td>0</td><td>$0.000000</td>" in table  # requests, failed, tokens

    # And a month without calls says so, with the month it is about.
    other = login(owner).get(reverse("team_usage", args=[team.pk]) + "?month=2020-01")
    assert b"No API calls in January 2020." in other.content


def test_calls_tokens_and_cost_by_endpoint_add_up_to_the_summary(owner, team, project):
    endpoint = Endpoint.objects.create(
        project=project, name="support", rate_limit_rpm=10, tokens_per_minute=1000, timeout_s=5
    )
    answered = RequestLog.objects.create(
        project=project,
        endpoint=endpoint,
        route="chat.completions",
        status_code=200,
        latency_ms=12,
        tokens_in=30,
        tokens_out=15,
        cost=Decimal("0.00045"),
    )
    record_request(
        request_id=answered.pk,
        team_id=team.pk,
        project_id=project.pk,
        project_name=project.name,
        endpoint=endpoint,
        tokens_in=30,
        tokens_out=15,
        cost=Decimal("0.00045"),
    )
    RequestLog.objects.create(  # rate-limited: logged, no tokens, no usage event
        project=project, endpoint=endpoint, route="chat.completions", status_code=429, latency_ms=1
    )

    usage = dashboard.usage(team.pk)
    assert (usage.api_calls, usage.failed_calls, usage.inference_tokens) == (2, 1, 45)
    assert usage.by_endpoint == [
        {
            "endpoint_name": "support",
            "project_name": project.name,
            "requests": 2,
            "failed": 1,
            "tokens": 45,
            "cost": Decimal("0.00045"),
        }
    ]
    # The money is the usage events': the same amount the calls' rows carry.
    assert usage.inference_cost == sum(row["cost"] for row in usage.by_endpoint)
