"""The Stripe client, configured once: STRIPE_SECRET_KEY switches billing on, STRIPE_API_BASE
points it elsewhere (the test suite's local Stripe)."""

from __future__ import annotations

from django.conf import settings


class BillingUnavailable(Exception):
    """Stripe is not configured here, or could not be reached; said in a sentence."""


def enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client():
    import stripe

    if not enabled():
        raise BillingUnavailable(
            "Payments are not set up on this installation (STRIPE_SECRET_KEY is not set)."
        )
    options = {}
    if settings.STRIPE_API_BASE:
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    # Retries (with Stripe's idempotency keys) belong to the caller's own loop: the meter job
    # runs again next minute, a page shows the error at once.
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, max_network_retries=0, **options)
