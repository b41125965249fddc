"""Issue 8's "done when": a team subscribes (through the local Stripe), calls its endpoint, and
every cost on the usage page adds up to the usage events and to the meter events sent."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing import reporting
from apps.billing.models import BillingAccount, UsageEvent
from tests.billing.conftest import deliver, stripe_api  # noqa: F401  (a fixture)
from tests.fakes.stripe_api import event

from .conftest import bearer

pytestmark = pytest.mark.django_db


def test_subscribe_call_and_every_cost_adds_up(
    client,
    login,
    owner,
    team,
    deployed,
    api_key,
    stripe_api,  # noqa: F811
):
    page = login(owner)
    response = page.post(reverse("billing_checkout", args=[team.pk]), {"plan": "pro"})
    assert response.status_code == 302
    session_id = next(iter(stripe_api.checkout_sessions))
    session = stripe_api.complete_checkout(session_id)
    subscription = stripe_api.subscriptions[session["subscription"]]
    assert deliver(client, event("checkout.session.completed", session)).status_code == 200
    assert deliver(client, event("customer.subscription.created", subscription)).status_code == 200
    account = BillingAccount.objects.get(team=team)
    assert account.plan.slug == "pro" and account.subscription_status == "active"

    body = {
        "model": deployed.endpoint.name,
        "messages": [{"role": "user", "content": "where is my order"}],
        "max_tokens": 4,
    }
    for _ in range(2):
        answer = client.post(
            "/v1/chat/completions",
            json.dumps(body),
            content_type="application/json",
            **bearer(api_key),
        )
        assert answer.status_code == 200

    assert reporting.report_usage()["failed"] == 0
    billed = UsageEvent.objects.filter(report_error="")
    sent = {e["identifier"]: int(e["payload"]["value"]) for e in stripe_api.meter_events}
    assert set(sent) == {str(e.id) for e in billed}
    assert all(
        e["payload"]["stripe_customer_id"] == account.stripe_customer_id
        for e in stripe_api.meter_events
    )
    # What Stripe was told, priced at each event's unit price, is what the events cost.
    assert sum(sent[str(e.id)] * e.unit_price for e in billed).quantize(Decimal("0.000001")) == sum(
        e.cost for e in billed
    )
    total = sum(e.cost for e in UsageEvent.objects.all())
    usage_page = page.get(reverse("team_usage", args=[team.pk]))
    assert f'id="usage-total">${total:.6f}'.encode() in usage_page.content
    assert UsageEvent.objects.filter(kind="inference").count() == 2
