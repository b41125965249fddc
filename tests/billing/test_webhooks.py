"""Stripe webhooks: signed exactly as Stripe signs them, applied once, in Stripe's order."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from apps.billing.models import BillingAccount, StripeEvent
from tests.fakes.stripe_api import event

from .conftest import deliver

pytestmark = pytest.mark.django_db


def _subscription(account, price="price_pro", status="active", **fields):
    return {
        "id": "sub_123",
        "object": "subscription",
        "customer": account.stripe_customer_id or "cus_123",
        "status": status,
        "cancel_at_period_end": False,
        "metadata": {"team_id": str(account.team_id)},
        "items": {
            "object": "list",
            "data": [{"price": {"id": price}, "current_period_end": int(time.time()) + 86400}],
        },
        **fields,
    }


def test_checkout_then_subscription_moves_the_team_to_pro(client, stripe_api, account):
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "client_reference_id": str(account.team_id),
        "customer": "cus_123",
        "subscription": "sub_123",
        "metadata": {"team_id": str(account.team_id), "plan": "pro"},
    }
    assert deliver(client, event("checkout.session.completed", session)).status_code == 200
    account.refresh_from_db()
    assert (account.stripe_customer_id, account.stripe_subscription_id) == ("cus_123", "sub_123")
    response = deliver(client, event("customer.subscription.created", _subscription(account)))
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.plan.slug == "pro" and account.subscription_status == "active"
    assert account.effective_plan.rate_limit_rpm == 1000


def test_a_bad_signature_is_400_and_changes_nothing(client, stripe_api, account):
    before = BillingAccount.objects.values().get(pk=account.pk)
    created = event("customer.subscription.created", _subscription(account))
    assert deliver(client, created, tamper=True).status_code == 400
    assert deliver(client, created, secret="whsec_someone_else").status_code == 400
    response = client.post(
        "/billing/stripe/webhook/", b"{}", content_type="application/json"
    )  # no header at all
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert BillingAccount.objects.values().get(pk=account.pk) == before


def test_a_replayed_event_is_a_no_op(client, stripe_api, account):
    account.stripe_customer_id = "cus_123"
    account.save()
    failed = event("invoice.payment_failed", {"object": "invoice", "customer": "cus_123"})
    assert deliver(client, failed).status_code == 200
    account.refresh_from_db()
    first_grace = account.grace_until
    # Stripe's retry (our answer was lost): the same event id again.
    response = deliver(client, failed)
    assert response.status_code == 200 and b"duplicate" in response.content
    account.refresh_from_db()
    assert account.grace_until == first_grace
    assert StripeEvent.objects.count() == 1


def test_an_older_event_arriving_late_never_overwrites_a_newer_state(client, stripe_api, account):
    account.stripe_customer_id = "cus_123"
    account.save()
    now = int(time.time())
    newer = event(
        "customer.subscription.updated",
        _subscription(account, cancel_at_period_end=True),
        created=now,
    )
    older = event(
        "customer.subscription.updated",
        _subscription(account, price="price_enterprise"),
        created=now - 60,
    )
    assert deliver(client, newer).status_code == 200
    response = deliver(client, older)
    assert response.status_code == 200 and b"stale" in response.content
    account.refresh_from_db()
    assert account.plan.slug == "pro" and account.cancel_at_period_end is True
    # A newer deletion does apply: back to Free.
    deleted = event("customer.subscription.deleted", _subscription(account), created=now + 5)
    assert deliver(client, deleted).status_code == 200
    account.refresh_from_db()
    assert account.plan.slug == "free" and account.stripe_subscription_id == ""


def test_a_failed_payment_gives_a_grace_period_then_free_limits(
    client, stripe_api, account, login, owner
):
    account.stripe_customer_id = "cus_123"
    account.plan_id = account.plan.__class__.objects.get(slug="pro").pk
    account.save()
    failed = event(
        "invoice.payment_failed",
        {"object": "invoice", "customer": "cus_123"},
        created=int(time.time()),
    )
    deliver(client, failed)
    account.refresh_from_db()
    assert account.in_grace and account.effective_plan.slug == "pro"
    page = login(owner).get("/teams/")
    assert b"The last payment failed" in page.content

    BillingAccount.objects.filter(pk=account.pk).update(
        grace_until=timezone.now() - timezone.timedelta(minutes=1)
    )
    account.refresh_from_db()
    assert account.effective_plan.slug == "free"
    assert b"Free limits" in login(owner).get("/teams/").content

    paid = event(
        "invoice.paid", {"object": "invoice", "customer": "cus_123"}, created=int(time.time()) + 1
    )
    deliver(client, paid)
    account.refresh_from_db()
    assert account.payment_failed_at is None and account.effective_plan.slug == "pro"


def test_unknown_event_types_are_recorded_and_ignored(client, stripe_api, account):
    response = deliver(client, event("customer.created", {"id": "cus_9", "object": "customer"}))
    assert response.status_code == 200 and response.content == b"ignored"


def test_usage_before_the_first_subscription_is_never_billed(client, stripe_api, account):
    from decimal import Decimal

    from apps.billing.models import UsageEvent

    UsageEvent.objects.create(
        team_id=account.team_id,
        project_name="p",
        kind="inference",
        meter="tokens",
        quantity=Decimal(5),
        unit_price=Decimal("0.00001"),
        cost=Decimal("0.00005"),
        description="tokens",
        source="before",
    )
    session = {
        "id": "cs_2",
        "object": "checkout.session",
        "client_reference_id": str(account.team_id),
        "customer": "cus_9",
        "subscription": "sub_9",
    }
    deliver(client, event("checkout.session.completed", session))
    row = UsageEvent.objects.get()
    assert row.reported_at is not None and "not billed" in row.report_error
