from django.contrib import admin

from .models import BillingAccount, Plan, StripeEvent, UsageEvent


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "monthly_price_usd",
        "rate_limit_rpm",
        "concurrent_runs",
        "max_replicas",
        "price_id",
    ]


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["team", "plan", "subscription_status", "monthly_budget_usd", "grace_until"]
    raw_id_fields = ["team"]


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "team", "kind", "quantity", "cost", "reported_at"]
    list_filter = ["kind", "meter"]
    raw_id_fields = ["team", "project", "endpoint"]


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "created", "outcome"]
