"""What the gateway bills: one usage event per answered request, in the log row's transaction;
a team over its budget gets 402 unless its owner allowed overage; the plan caps requests/min."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from apps.billing.metering import account_for
from apps.billing.models import BillingAccount, UsageEvent
from apps.endpoints.gateway import directory
from apps.endpoints.models import Endpoint, RequestLog

from .conftest import bearer

pytestmark = pytest.mark.django_db


def _chat(client, deployed, raw):
    body = {
        "model": deployed.endpoint.name,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 3,
    }
    return client.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json", **bearer(raw)
    )


def test_each_answer_is_a_usage_event_matching_its_log_row(client, deployed, api_key):
    assert _chat(client, deployed, api_key).status_code == 200
    row, event = RequestLog.objects.get(), UsageEvent.objects.get()
    assert event.source == f"request:{row.pk}"
    assert (event.tokens_in, event.tokens_out) == (row.tokens_in, row.tokens_out)
    assert event.quantity == row.tokens_in + row.tokens_out and event.cost == row.cost
    assert (
        event.endpoint_id == deployed.endpoint_id
        and event.team_id == deployed.endpoint.project.team_id
    )


def test_over_budget_is_402_unless_overage_is_allowed(client, deployed, api_key):
    account = account_for(deployed.endpoint.project.team_id)
    BillingAccount.objects.filter(pk=account.pk).update(spending_stopped_at=timezone.now())
    directory.bump()
    response = _chat(client, deployed, api_key)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert not UsageEvent.objects.exists()
    BillingAccount.objects.filter(pk=account.pk).update(allow_overage=True)
    directory.bump()
    assert _chat(client, deployed, api_key).status_code == 200


def test_the_plan_caps_requests_per_minute(client, deployed, api_key, login, owner):
    Endpoint.objects.filter(pk=deployed.endpoint_id).update(rate_limit_rpm=5000)
    response = login(owner).post(
        f"/endpoints/{deployed.endpoint_id}/settings/",
        {"rate_limit_rpm": "5000", "tokens_per_minute": "1000", "timeout_s": "30"},
    )
    assert b"The Free plan allows up to 100 requests per minute" in response.content
