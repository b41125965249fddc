"""Usage events go to Stripe Billing Meters (one meter event each, its identifier the event's id,
the same value as the idempotency key): a retry after a lost answer never bills twice, an event
is marked reported only once Stripe said yes, and Stripe being down leaves the rest for the next
run of the job."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Meter, UsageEvent
from .stripe_api import client, enabled

log = logging.getLogger(__name__)

BATCH = 500


def meter_name(meter: str) -> str:
    return {
        Meter.GPU_SECONDS: settings.STRIPE_METER_GPU_SECONDS,
        Meter.TOKENS: settings.STRIPE_METER_TOKENS,
    }[meter]


def report_usage() -> dict:
    """Send what is unreported, oldest first. {"reported": n, "failed": m}."""
    import stripe

    counts = {"reported": 0, "failed": 0}
    if not enabled():
        return counts
    stripe_client = client()
    with transaction.atomic():
        # Locked rows, skipped by a second reporter running at the same time.
        events = list(
            UsageEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(reported_at__isnull=True)
            .exclude(team__billing__stripe_customer_id="")
            .exclude(team__billing__isnull=True)
            .select_related("team__billing")
            .order_by("created_at")[:BATCH]
        )
        for event in events:
            try:
                stripe_client.v1.billing.meter_events.create(
                    params={
                        "event_name": meter_name(event.meter),
                        "payload": {
                            "stripe_customer_id": event.team.billing.stripe_customer_id,
                            "value": str(int(event.quantity)),
                        },
                        "identifier": str(event.id),
                        "timestamp": int(event.created_at.timestamp()),
                    },
                    options={"idempotency_key": f"meter-{event.id}"},
                )
            except stripe.StripeError as exc:
                if _already_recorded(exc):
                    # Stripe has it from an earlier try whose answer we lost.
                    _mark_reported(event)
                    counts["reported"] += 1
                    continue
                UsageEvent.objects.filter(pk=event.pk).update(
                    report_attempts=event.report_attempts + 1,
                    report_error=str(getattr(exc, "user_message", None) or exc)[:300],
                )
                counts["failed"] += 1
                log.warning("stripe meter report failed: %s", type(exc).__name__)
                if isinstance(exc, stripe.InvalidRequestError):
                    # Refused for good (too old, unknown customer or meter): it stays unreported
                    # with the reason for an operator, and never blocks the events after it.
                    _mark_refused(event)
                    continue
                # Stripe is down or refusing for now: stop here, the job runs again.
                break
            _mark_reported(event)
            counts["reported"] += 1
    return counts


def _mark_reported(event) -> None:
    UsageEvent.objects.filter(pk=event.pk).update(reported_at=timezone.now(), report_error="")


def _mark_refused(event) -> None:
    UsageEvent.objects.filter(pk=event.pk).update(reported_at=timezone.now())
    log.error("stripe refused usage event %s; see its report_error", event.pk)


def _already_recorded(exc) -> bool:
    body = getattr(exc, "json_body", None) or {}
    error = body.get("error") or {}
    return "identifier" in str(error.get("message", "")).lower() and (
        "already" in str(error.get("message", "")).lower()
    )
