"""Billing fixtures: the real stripe SDK against a local Stripe (tests/fakes/stripe_api.py)."""

from __future__ import annotations

import json

import pytest

from apps.billing.metering import account_for
from tests.fakes.stripe_api import FakeStripe, sign

WEBHOOK_SECRET = "whsec_vibeflow_tests"


@pytest.fixture
def stripe_api(settings):
    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = fake.api_key
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_PRICE_IDS = {"pro": "price_pro", "enterprise": "price_enterprise"}
        yield fake


@pytest.fixture
def account(team):
    return account_for(team.pk)


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET, tamper: bool = False):
    """POST an event to the webhook exactly as Stripe does: raw JSON, Stripe-Signature header."""
    payload = json.dumps(event).encode()
    header = sign(payload, secret)
    if tamper:
        payload = payload.replace(b"customer", b"kustomer", 1)  # signed bytes changed
    return client.post(
        "/billing/stripe/webhook/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
