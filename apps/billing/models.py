"""Plans, each team's billing account, usage events (every cent shown comes from one) and the
Stripe events already processed."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from .signals import limits_changed


class Plan(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=40)
    order = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=200, blank=True)
    monthly_price_usd = models.DecimalField(max_digits=8, decimal_places=2)
    rate_limit_rpm = models.PositiveIntegerField(help_text="Requests per minute per API key")
    concurrent_runs = models.PositiveSmallIntegerField(help_text="Training runs at once per team")
    max_replicas = models.PositiveSmallIntegerField(
        default=1, help_text="Replicas an endpoint may have (copies of its model on servers)"
    )
    included_gpu_hours = models.DecimalField(max_digits=8, decimal_places=2)
    included_tokens = models.BigIntegerField()
    stripe_price_id = models.CharField(
        max_length=100, blank=True, help_text="Empty: STRIPE_PRICE_IDS in the environment"
    )

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return self.name

    @property
    def price_id(self) -> str:
        return self.stripe_price_id or settings.STRIPE_PRICE_IDS.get(self.slug, "")

    @classmethod
    def free(cls) -> Plan:
        """The plan every team starts on (seeded; put back from plans.py if someone deleted it)."""
        from .plans import PLANS

        plan = cls.objects.filter(slug="free").first()
        if plan is None:
            plan, _ = cls.objects.get_or_create(slug="free", defaults=PLANS[0])
        return plan


class SubscriptionStatus(models.TextChoices):
    NONE = "", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"
    PAUSED = "paused", "Paused"


class BillingAccount(models.Model):
    """A team's plan, its Stripe customer and subscription, and its budget."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="billing")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    stripe_customer_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    subscription_status = models.CharField(
        max_length=12, choices=SubscriptionStatus.choices, blank=True
    )
    cancel_at_period_end = models.BooleanField(default=False)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # When the subscription state applied was true (its event's `created`): an older event that
    # arrives later never overwrites it.
    subscription_as_of = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    invoice_as_of = models.DateTimeField(null=True, blank=True)

    monthly_budget_usd = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Empty: no budget"
    )
    allow_overage = models.BooleanField(
        default=False,
        help_text="Keep endpoints answering above the budget (training still stops)",
    )
    # {"2026-11:200.00": [50, 80]}: the alert levels already sent, per month and budget.
    alerts_sent = models.JSONField(default=dict, blank=True)
    spending_stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.team} on {self.plan}"

    @property
    def in_grace(self) -> bool:
        return self.payment_failed_at is not None and (
            self.grace_until is None or timezone.now() < self.grace_until
        )

    @property
    def grace_expired(self) -> bool:
        return self.grace_until is not None and timezone.now() >= self.grace_until

    @property
    def effective_plan(self) -> Plan:
        """The plan whose limits apply: Free once a failed payment's grace period has run out."""
        if self.grace_expired:
            return Plan.free()
        return self.plan


class UsageKind(models.TextChoices):
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluation"
    INFERENCE = "inference", "Inference"


class Meter(models.TextChoices):
    GPU_SECONDS = "gpu_seconds", "GPU seconds"
    TOKENS = "tokens", "Tokens"


class UsageEvent(models.Model):
    """One metered thing that happened, written in the transaction that caused it, with its unit
    price at that moment. Its id is the Stripe meter event's identifier (a retry never doubles)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="usage")
    # Usage outlives the project it came from: the bill still has to add up.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    project_name = models.CharField(max_length=200)
    endpoint = models.ForeignKey(
        "endpoints.Endpoint", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    endpoint_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=12, choices=UsageKind.choices)
    meter = models.CharField(max_length=12, choices=Meter.choices)
    quantity = models.DecimalField(max_digits=18, decimal_places=3)
    unit_price = models.DecimalField(max_digits=16, decimal_places=10)
    cost = models.DecimalField(max_digits=12, decimal_places=6)
    # Training: what the estimate said before the run; the difference is GPU time not billed.
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    hardware = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=300)
    # What caused it, e.g. "run:<id>": unique, so recording the same thing twice is a no-op.
    source = models.CharField(max_length=120, unique=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    report_attempts = models.PositiveSmallIntegerField(default=0)
    report_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "created_at"]),
            models.Index(
                fields=["created_at"],
                name="usage_unreported",
                condition=models.Q(reported_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.description}: ${self.cost}"

    @property
    def refund(self) -> Decimal | None:
        """GPU time estimated but not used (a run stopped early): never billed."""
        if self.estimated_cost is None or self.estimated_cost <= self.cost:
            return None
        return self.estimated_cost - self.cost


class StripeEvent(models.Model):
    """A webhook event processed: recorded in the transaction of its effects, so a replay (or
    Stripe's retry after our answer was lost) finds it and does nothing."""

    id = models.CharField(primary_key=True, max_length=100)
    type = models.CharField(max_length=80)
    created = models.DateTimeField(help_text="When Stripe created the event")
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.type} {self.id}"


@receiver([post_save, post_delete], sender=BillingAccount)
@receiver([post_save, post_delete], sender=Plan)
def _limits_changed(sender, **kwargs):
    """The gateway caches each endpoint's plan limit and budget state: look them up again."""
    limits_changed.send(sender)
