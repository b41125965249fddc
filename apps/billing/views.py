"""The usage dashboard (every member), billing and budget (owners and admins), Stripe's pages
(Checkout, the Customer Portal) and its webhook."""

from __future__ import annotations

import csv
import json
import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.access import get_team_for_user

from . import budgets, statements, webhooks
from .csv_cells import spreadsheet_safe
from .metering import account_for
from .models import Plan
from .stripe_api import BillingUnavailable, client, enabled

log = logging.getLogger(__name__)


class BudgetForm(forms.Form):
    monthly_budget_usd = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=1_000_000,
        decimal_places=2,
        label="Monthly budget (USD)",
        help_text="Empty: no budget. Alerts at 50, 80 and 100%; at 100% training stops.",
    )
    allow_overage = forms.BooleanField(
        required=False, label="Keep endpoints answering above the budget"
    )


@login_required
@require_GET
def usage_csv(request, team_id):
    team, _ = get_team_for_user(request.user, team_id)
    figures_start, figures_end = statements.month_bounds(request.GET.get("month"))
    rows = statements.events(team.pk, figures_start, figures_end).order_by("created_at")

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    header = [
        "id",
        "created_at",
        "kind",
        "project",
        "endpoint",
        "hardware",
        "meter",
        "quantity",
        "unit_price_usd",
        "cost_usd",
        "estimated_cost_usd",
        "tokens_in",
        "tokens_out",
        "description",
        "reported_to_stripe_at",
    ]

    def lines():
        yield writer.writerow(header)
        for e in rows.iterator():
            cells = [
                e.id,
                e.created_at.isoformat(),
                e.kind,
                e.project_name,
                e.endpoint_name,
                e.hardware,
                e.meter,
                e.quantity,
                e.unit_price,
                e.cost,
                "" if e.estimated_cost is None else e.estimated_cost,
                e.tokens_in,
                e.tokens_out,
                e.description,
                e.reported_at.isoformat() if e.reported_at else "",
            ]
            # Names and descriptions are the users' own text: never let one be a formula.
            yield writer.writerow([spreadsheet_safe(cell) for cell in cells])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="vibeflow-usage-{figures_start:%Y-%m}.csv"'
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def billing(request, team_id):
    """Plan, subscription and budget: owners and admins only."""
    team, membership = get_team_for_user(request.user, team_id, manage=True)
    account = account_for(team.pk)
    if request.method == "POST":
        form = BudgetForm(request.POST)
        if form.is_valid():
            account.monthly_budget_usd = form.cleaned_data["monthly_budget_usd"]
            account.allow_overage = form.cleaned_data["allow_overage"]
            account.save(update_fields=["monthly_budget_usd", "allow_overage"])
            budgets.enforce(account)  # a raised budget lifts a stop at once
            messages.success(request, "Budget saved.")
            return redirect("team_billing", team_id=team.pk)
    else:
        form = BudgetForm(
            initial={
                "monthly_budget_usd": account.monthly_budget_usd,
                "allow_overage": account.allow_overage,
            }
        )
    return render(
        request,
        "billing/billing.html",
        {
            "team": team,
            "membership": membership,
            "account": account,
            "plans": Plan.objects.all(),
            "form": form,
            "budget": budgets.budget_of(account),
            "stripe_enabled": enabled(),
        },
        status=400 if form.is_bound else 200,
    )


def _customer(stripe_client, account, user) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = stripe_client.v1.customers.create(
        params={
            "email": user.email,
            "name": account.team.name,
            "metadata": {"team_id": str(account.team_id)},
        },
        options={"idempotency_key": f"customer-{account.team_id}"},
    )
    account.stripe_customer_id = customer.id
    account.save(update_fields=["stripe_customer_id"])
    return customer.id


def _stripe_call(request, team, action):
    """Run one Stripe call for a page; a sentence on the billing page when it fails."""
    import stripe

    try:
        return action(client())
    except BillingUnavailable as exc:
        messages.error(request, str(exc))
    except stripe.StripeError as exc:
        log.warning("stripe call failed: %s", type(exc).__name__)
        messages.error(
            request,
            "Stripe could not be reached or refused the request; nothing was changed. "
            "Try again in a minute.",
        )
    return redirect("team_billing", team_id=team.pk)


@login_required
@require_POST
def checkout(request, team_id):
    team, _ = get_team_for_user(request.user, team_id, manage=True)
    account = account_for(team.pk)
    plan = Plan.objects.filter(slug=request.POST.get("plan", "")).first()
    if plan is None or not plan.price_id:
        messages.error(request, "Choose a paid plan that is on sale here.")
        return redirect("team_billing", team_id=team.pk)
    if account.stripe_subscription_id and account.subscription_status in ("active", "trialing"):
        messages.info(request, "Change the plan of an active subscription in the billing portal.")
        return redirect("team_billing", team_id=team.pk)
    back = request.build_absolute_uri(reverse("team_billing", args=[team.pk]))

    def create(stripe_client):
        session = stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": _customer(stripe_client, account, request.user),
                "client_reference_id": str(team.pk),
                "line_items": [{"price": plan.price_id, "quantity": 1}],
                "metadata": {"team_id": str(team.pk), "plan": plan.slug},
                "subscription_data": {"metadata": {"team_id": str(team.pk)}},
                "success_url": back + "?checkout=done",
                "cancel_url": back + "?checkout=cancelled",
            }
        )
        return redirect(session.url)

    return _stripe_call(request, team, create)


@login_required
@require_POST
def portal(request, team_id):
    team, _ = get_team_for_user(request.user, team_id, manage=True)
    account = account_for(team.pk)
    if not account.stripe_customer_id:
        messages.error(request, "There is nothing to manage yet: subscribe to a plan first.")
        return redirect("team_billing", team_id=team.pk)
    back = request.build_absolute_uri(reverse("team_billing", args=[team.pk]))

    def create(stripe_client):
        session = stripe_client.v1.billing_portal.sessions.create(
            params={"customer": account.stripe_customer_id, "return_url": back}
        )
        return redirect(session.url)

    return _stripe_call(request, team, create)


@login_required
@require_POST
def cancel(request, team_id):
    team, _ = get_team_for_user(request.user, team_id, manage=True)
    account = account_for(team.pk)
    if not account.stripe_subscription_id:
        messages.error(request, "This team has no subscription to cancel.")
        return redirect("team_billing", team_id=team.pk)

    def update(stripe_client):
        stripe_client.v1.subscriptions.update(
            account.stripe_subscription_id, params={"cancel_at_period_end": True}
        )
        # The webhook confirms it; the page says so now.
        account.cancel_at_period_end = True
        account.save(update_fields=["cancel_at_period_end"])
        messages.success(
            request, "The subscription ends at the end of the period; nothing more is charged."
        )
        return redirect("team_billing", team_id=team.pk)

    return _stripe_call(request, team, update)


@csrf_exempt  # Stripe signs its requests; there is no session to forge
@require_POST
def stripe_webhook(request):
    import stripe

    if not settings.STRIPE_WEBHOOK_SECRET:
        return HttpResponse("webhooks are not configured", status=503)
    try:
        event = stripe.Webhook.construct_event(
            request.body,
            request.headers.get("Stripe-Signature", ""),
            settings.STRIPE_WEBHOOK_SECRET,
        )
    except stripe.SignatureVerificationError:
        return HttpResponseBadRequest("bad signature")
    except ValueError:
        return HttpResponseBadRequest("not a Stripe event")
    outcome = webhooks.process(json.loads(request.body))
    log.info("stripe event %s %s: %s", event.id, event.type, outcome)
    return HttpResponse(outcome, content_type="text/plain")
