"""Stripe's webhook events, each applied exactly once and in the order Stripe meant.

`process(event)` runs in one transaction: it records the event id (a replay finds it and does
nothing) together with its effects, so a failure rolls both back and Stripe's retry applies them
again. Subscription and invoice states carry the `created` time of the event that set them; an
older event arriving late changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import BillingAccount, Plan, StripeEvent, SubscriptionStatus, UsageEvent

HANDLED = {
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
}


def _when(unix) -> datetime | None:
    return datetime.fromtimestamp(int(unix), tz=UTC) if unix else None


def process(event: dict) -> str:
    """Apply one verified event; returns what happened, in words (kept on the event row)."""
    created = _when(event.get("created")) or timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(id=event["id"], type=event["type"], created=created)
        except IntegrityError:
            return "duplicate: already processed"
        obj = (event.get("data") or {}).get("object") or {}
        if event["type"] not in HANDLED:
            outcome = "ignored"
        elif event["type"] == "checkout.session.completed":
            outcome = _checkout_completed(obj)
        elif event["type"].startswith("customer.subscription."):
            outcome = _subscription(obj, created, deleted=event["type"].endswith("deleted"))
        else:
            outcome = _invoice(obj, created, paid=event["type"] == "invoice.paid")
        StripeEvent.objects.filter(pk=event["id"]).update(outcome=outcome[:200])
    return outcome


def _account(customer_id: str | None, team_id: str | None = None) -> BillingAccount | None:
    accounts = BillingAccount.objects.select_for_update()
    if customer_id:
        found = accounts.filter(stripe_customer_id=customer_id).first()
        if found:
            return found
    if team_id:
        return accounts.filter(team_id=team_id).first()
    return None


def _checkout_completed(session: dict) -> str:
    team_id = session.get("client_reference_id") or (session.get("metadata") or {}).get("team_id")
    account = _account(None, team_id) if team_id else None
    if account is None:
        return "no team for this checkout"
    if not account.stripe_subscription_id:
        # Usage before the first subscription was free-plan usage: never sent to Stripe.
        UsageEvent.objects.filter(team_id=account.team_id, reported_at__isnull=True).update(
            reported_at=timezone.now(), report_error="Before the subscription: not billed"
        )
    account.stripe_customer_id = session.get("customer") or account.stripe_customer_id
    account.stripe_subscription_id = session.get("subscription") or account.stripe_subscription_id
    account.save(update_fields=["stripe_customer_id", "stripe_subscription_id"])
    return f"checkout completed for team {team_id}"


def _price_of(subscription: dict) -> tuple[str, datetime | None]:
    items = ((subscription.get("items") or {}).get("data")) or []
    first = items[0] if items else {}
    price = (first.get("price") or {}).get("id", "")
    period_end = first.get("current_period_end") or subscription.get("current_period_end")
    return price, _when(period_end)


def plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    for plan in Plan.objects.all():
        if plan.price_id == price_id:
            return plan
    return None


def _subscription(sub: dict, created: datetime, *, deleted: bool) -> str:
    account = _account(sub.get("customer"), (sub.get("metadata") or {}).get("team_id"))
    if account is None:
        return "no team for this customer"
    if account.subscription_as_of and created < account.subscription_as_of:
        return "stale: a newer subscription state is already applied"
    if (
        account.stripe_subscription_id
        and sub.get("id")
        and sub["id"] != account.stripe_subscription_id
        and deleted
    ):
        return "ignored: not the team's current subscription"
    price, period_end = _price_of(sub)
    account.subscription_as_of = created
    account.stripe_customer_id = sub.get("customer") or account.stripe_customer_id
    if deleted:
        account.plan = Plan.free()
        account.subscription_status = SubscriptionStatus.CANCELED
        account.stripe_subscription_id = ""
        account.cancel_at_period_end = False
        account.current_period_end = None
    else:
        plan = plan_for_price(price)
        if plan is None:
            return f"unknown price {price}: plan unchanged"
        # Only a subscription that is paying (or in its trial, or retrying a payment) gives the
        # paid plan; paused, unpaid, incomplete or canceled ones leave the team on Free.
        paying = sub.get("status") in ("active", "trialing", "past_due")
        account.plan = plan if paying else Plan.free()
        account.stripe_subscription_id = sub.get("id") or account.stripe_subscription_id
        status = sub.get("status") or ""
        account.subscription_status = (
            status if status in SubscriptionStatus.values else SubscriptionStatus.NONE
        )
        account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
        account.current_period_end = period_end
    account.save()  # its post_save looks the gateway's limits up again (models.py)
    return f"{account.team_id}: {account.plan.slug}, {account.subscription_status or 'none'}"


def _invoice(invoice: dict, created: datetime, *, paid: bool) -> str:
    account = _account(invoice.get("customer"))
    if account is None:
        return "no team for this customer"
    if account.invoice_as_of and created < account.invoice_as_of:
        return "stale: a newer invoice state is already applied"
    account.invoice_as_of = created
    if paid:
        account.payment_failed_at = None
        account.grace_until = None
        outcome = "paid: grace cleared"
    else:
        if account.payment_failed_at is None:
            account.payment_failed_at = created
            account.grace_until = created + timedelta(days=settings.BILLING_GRACE_DAYS)
        outcome = f"payment failed: grace until {account.grace_until:%Y-%m-%d}"
    account.save()  # its post_save looks the gateway's limits up again (models.py)
    return outcome
