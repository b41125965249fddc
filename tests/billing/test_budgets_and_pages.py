"""Budgets (alerts, the stop at the limit, the Start check, 402 from endpoints), the billing and
usage pages with Stripe's Checkout and Portal, and team isolation of every billing URL."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.billing import budgets
from apps.billing.csv_cells import spreadsheet_safe
from apps.billing.metering import account_for, record_request
from apps.billing.models import BillingAccount, UsageEvent, UsageKind
from apps.catalog.models import Hardware
from apps.endpoints.models import Endpoint
from apps.projects.models import Project
from apps.training import budget as training_budget
from apps.training.models import RunStatus, TrainingRun
from tests.training.helpers import draft_run

pytestmark = pytest.mark.django_db


def _spend(team, cost, source="x"):
    UsageEvent.objects.create(
        team=team,
        project_name="Support Bot",
        kind=UsageKind.INFERENCE,
        meter="tokens",
        quantity=Decimal(100),
        unit_price=Decimal(cost) / 100,
        cost=Decimal(cost),
        description="tokens",
        source=source,
    )


def test_alerts_once_per_level_then_stop_the_running_run(login, owner, project, team):
    run = draft_run(login(owner), project)
    Hardware.objects.filter(pk=run.hardware_id).update(hourly_price=Decimal("36"))
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("10")
    account.save()
    _spend(team, "6", "a")
    assert budgets.enforce(account) == ["alert 50%"]
    account.refresh_from_db()
    assert budgets.enforce(account) == []  # sent once
    run.transition(RunStatus.QUEUED)
    run.transition(RunStatus.RUNNING)
    # Running for 500 s at $0.01/s: $5 used so far, not yet billed, counted now.
    TrainingRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - timezone.timedelta(seconds=500)
    )
    account.refresh_from_db()
    done = budgets.enforce(account)
    assert "alert 80%" in done and "alert 100%" in done and "spending stopped" in done
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPING and run.stop_requested
    assert (
        run.alerts[-1]["code"] == "budget" and "$10.00 monthly budget" in run.alerts[-1]["message"]
    )
    account.refresh_from_db()
    assert account.spending_stopped_at is not None
    # Raising the budget lifts the stop.
    login(owner).post(reverse("team_billing", args=[team.pk]), {"monthly_budget_usd": "100"})
    account.refresh_from_db()
    assert account.spending_stopped_at is None


def test_alert_emails_go_to_owners_and_admins(owner, admin_user, member, team, settings):
    from apps.billing.tasks import send_budget_alert

    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("200")
    account.save()
    assert send_budget_alert(str(team.pk), 50, "100") == 1
    assert set(mail.outbox[0].to) == {owner.email, admin_user.email}
    assert "50%" in mail.outbox[0].subject and "$100.00 of its $200.00" in mail.outbox[0].body


def test_start_is_refused_over_budget_unless_an_owner_overrides(
    login, owner, admin_user, project, team, monkeypatch
):
    run = draft_run(login(owner), project)
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("1")
    account.save()
    _spend(team, "1")
    # The CPU's estimate is $0, which fits any budget: quote $5 instead.
    monkeypatch.setattr(training_budget, "estimated_cost", lambda run: Decimal("5"))
    page = login(owner).get(reverse("run_config", args=[run.pk]))
    assert b"more than the $0.00 left" in page.content and b"owner override" in page.content
    response = login(admin_user).post(reverse("run_start", args=[run.pk]), {"override_budget": "1"})
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT  # an admin cannot override
    login(owner).post(reverse("run_start", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT
    login(owner).post(reverse("run_start", args=[run.pk]), {"override_budget": "1"})
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.estimated_cost == Decimal("5")
    assert response.status_code == 302


def test_the_free_plan_trains_one_run_at_a_time(login, owner, project):
    client = login(owner)
    first = draft_run(client, project)
    first.transition(RunStatus.QUEUED)
    client.post(reverse("run_new", args=[project.pk]))
    second = TrainingRun.objects.exclude(pk=first.pk).get()
    response = client.post(reverse("run_start", args=[second.pk]), follow=True)
    assert b"trains 1 run at a time" in response.content
    second.refresh_from_db()
    assert second.status == RunStatus.DRAFT


def test_usage_page_and_csv_add_up_to_the_events(login, owner, team):
    _spend(team, "0.25", "a")
    _spend(team, "0.50", "b")
    client = login(owner)
    page = client.get(reverse("team_usage", args=[team.pk]))
    assert page.status_code == 200
    assert b'id="usage-total">$0.750000' in page.content
    body = b"".join(client.get(reverse("team_usage_csv", args=[team.pk])).streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 2 and sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.75")
    # A month with nothing, and a malformed month (this month instead, never an error).
    assert (
        b"Nothing recorded"
        in client.get(reverse("team_usage", args=[team.pk]) + "?month=2020-01").content
    )
    assert client.get(reverse("team_usage", args=[team.pk]) + "?month=abc").status_code == 200


def test_spreadsheet_safe_neutralises_formula_text_and_keeps_numbers():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert spreadsheet_safe(text) == "'" + text
    for kept in ("Support Bot", "", "1-1", Decimal("-3.000"), -3, 0.5, None):
        assert spreadsheet_safe(kept) == kept


def test_usage_csv_never_hands_a_spreadsheet_a_formula(login, owner, team):
    hostile = "=cmd|' /C calc'!A0"
    project = Project.objects.create(team=team, name=hostile, created_by=owner)
    # A valid slug that a spreadsheet would still compute (-2-3 = -5).
    endpoint = Endpoint.objects.create(
        project=project, name="-2-3", rate_limit_rpm=10, tokens_per_minute=100, timeout_s=5
    )
    record_request(
        request_id="r1",
        team_id=team.pk,
        project_id=project.pk,
        project_name=project.name,
        endpoint=endpoint,
        tokens_in=3,
        tokens_out=4,
        cost=Decimal("0.00007"),
    )
    # A negative quantity (a correction) is a number and must stay one.
    UsageEvent.objects.create(
        team=team,
        project_name="@SUM(1+1)",
        kind=UsageKind.INFERENCE,
        meter="tokens",
        quantity=Decimal(-3),
        unit_price=Decimal("0.00001"),
        cost=Decimal("-0.00003"),
        description="-3 tokens corrected",
        source="correction",
    )
    client = login(owner)
    body = b"".join(client.get(reverse("team_usage_csv", args=[team.pk])).streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(r["project"], r["endpoint"]) for r in rows] == [
        ("'" + hostile, "'-2-3"),
        ("'@SUM(1+1)", ""),
    ]
    assert rows[1]["description"] == "'-3 tokens corrected"
    assert (rows[1]["quantity"], rows[1]["cost_usd"]) == ("-3.000", "-0.000030")
    assert rows[0]["quantity"] == "7.000" and rows[0]["tokens_in"] == "3"
    # No cell of the file starts a formula.
    for row in csv.reader(io.StringIO(body.decode())):
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or Decimal(cell) < 0, cell


def test_budget_form_refuses_bad_values_and_keeps_the_old_one(login, owner, team):
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("200")
    account.save()
    for value in ("-5", "abc", "1e99", "12.345"):
        response = login(owner).post(
            reverse("team_billing", args=[team.pk]), {"monthly_budget_usd": value}
        )
        assert response.status_code == 400, value
        account.refresh_from_db()
        assert account.monthly_budget_usd == Decimal("200")


def test_subscribe_portal_and_cancel_through_stripe(login, owner, team, stripe_api):
    client = login(owner)
    response = client.post(reverse("billing_checkout", args=[team.pk]), {"plan": "pro"})
    assert response.status_code == 302 and response["Location"].startswith(stripe_api.url)
    account = BillingAccount.objects.get(team=team)
    customer = stripe_api.customers[account.stripe_customer_id]
    assert customer["metadata"]["team_id"] == str(team.pk)
    session = next(iter(stripe_api.checkout_sessions.values()))
    assert session["client_reference_id"] == str(team.pk)
    assert session["line_items"][0]["price"] == "price_pro"
    assert session["mode"] == "subscription"

    response = client.post(reverse("billing_portal", args=[team.pk]))
    assert response.status_code == 302 and response["Location"].startswith(stripe_api.url)

    subscription = stripe_api.add_subscription(account.stripe_customer_id, "price_pro")
    BillingAccount.objects.filter(pk=account.pk).update(
        stripe_subscription_id=subscription["id"], subscription_status="active"
    )
    client.post(reverse("billing_cancel", args=[team.pk]))
    assert stripe_api.subscriptions[subscription["id"]]["cancel_at_period_end"] in (True, "true")
    account.refresh_from_db()
    assert account.cancel_at_period_end


def test_stripe_down_or_a_bad_plan_says_so_and_changes_nothing(login, owner, team, stripe_api):
    client = login(owner)
    stripe_api.down = True
    response = client.post(
        reverse("billing_checkout", args=[team.pk]), {"plan": "pro"}, follow=True
    )
    assert b"Stripe could not be reached" in response.content
    assert not stripe_api.checkout_sessions
    stripe_api.down = False
    for plan in ("free", "platinum", ""):
        response = client.post(
            reverse("billing_checkout", args=[team.pk]), {"plan": plan}, follow=True
        )
        assert b"Choose a paid plan" in response.content
    assert not stripe_api.checkout_sessions


def test_every_billing_url_is_team_only(login, owner, outsider, member, viewer, team):
    _spend(team, "1")
    reads = [reverse("team_usage", args=[team.pk]), reverse("team_usage_csv", args=[team.pk])]
    manage = [reverse("team_billing", args=[team.pk])]
    posts = [
        reverse(name, args=[team.pk])
        for name in ("billing_checkout", "billing_portal", "billing_cancel", "team_billing")
    ]
    client = login(outsider)
    for url in reads + manage:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"plan": "pro", "monthly_budget_usd": "1"}).status_code == 404
    for user in (member, viewer):
        client = login(user)
        for url in reads:
            assert client.get(url).status_code == 200, url
        for url in manage:
            assert client.get(url).status_code == 403, url
        for url in posts:
            assert client.post(url, {"monthly_budget_usd": "1"}).status_code == 403, url
    assert account_for(team.pk).monthly_budget_usd is None


def test_a_zero_budget_and_absurd_months_are_handled(login, owner, team):
    client = login(owner)
    response = client.post(reverse("team_billing", args=[team.pk]), {"monthly_budget_usd": "0"})
    assert response.status_code == 302
    assert budgets.budget_of(account_for(team.pk)).percent == 100
    for month in ("9999-12", "0-0", "2026-13"):
        assert (
            client.get(reverse("team_usage", args=[team.pk]) + f"?month={month}").status_code == 200
        )


def test_a_new_budget_arms_the_alerts_again(team):
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("10")
    account.save()
    _spend(team, "6")
    assert budgets.enforce(account) == ["alert 50%"]
    account.refresh_from_db()
    account.monthly_budget_usd = Decimal("11")
    account.save()
    assert budgets.enforce(account) == ["alert 50%"]


def test_a_stopped_run_does_not_resume_over_budget(login, owner, project, team):
    from apps.training.models import Checkpoint

    run = draft_run(login(owner), project)
    for status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING, RunStatus.STOPPED):
        run.transition(status)
    Checkpoint.objects.create(run=run, step=4, path="/nowhere")
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("1")
    account.save()
    _spend(team, "2")
    response = login(owner).post(reverse("run_resume", args=[run.pk]), follow=True)
    assert b"budget is used up" in response.content
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED


def test_the_banner_says_how_much_of_the_budget_is_used(login, owner, team):
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("10")
    account.save()
    _spend(team, "8.5")
    budgets.enforce(account)
    page = login(owner).get(reverse("team_list"))
    assert b"has used 80% of its $10.00 monthly budget" in page.content
