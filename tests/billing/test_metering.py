"""Usage events: written in the transaction that ends what they meter, once, with their price;
reported to Stripe's meters without doubling, surviving Stripe being down."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing import reporting
from apps.billing.metering import account_for, record_run
from apps.billing.models import UsageEvent, UsageKind
from apps.catalog.models import Hardware
from apps.training.models import RunStatus, TrainingRun
from tests.training.helpers import draft_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced_run(login, owner, project):
    """A draft run on the CPU entry, priced at $36/hour ($0.01 a second) for the test."""
    run = draft_run(login(owner), project)
    Hardware.objects.filter(pk=run.hardware_id).update(hourly_price=Decimal("36"))
    run.refresh_from_db()
    return run


def _finish(run, status, gpu_seconds=0.0, estimated=None):
    run.transition(RunStatus.QUEUED)
    run.transition(RunStatus.RUNNING)
    TrainingRun.objects.filter(pk=run.pk).update(gpu_seconds=gpu_seconds, estimated_cost=estimated)
    if status == RunStatus.STOPPED:
        run.transition(RunStatus.STOPPING)
    run.transition(status)


def test_a_finished_run_bills_its_gpu_seconds_once(priced_run, team):
    _finish(priced_run, RunStatus.SUCCEEDED, gpu_seconds=120.4)
    event = UsageEvent.objects.get()
    assert (event.kind, event.meter, event.quantity) == (UsageKind.TRAINING, "gpu_seconds", 120)
    assert event.unit_price == Decimal("0.01") and event.cost == Decimal("1.20")
    assert event.team_id == team.pk and event.source.startswith(f"run:{priced_run.pk}:")
    record_run(priced_run)  # a redelivered task: nothing more
    assert UsageEvent.objects.count() == 1


def test_a_stopped_run_bills_until_its_stop_and_shows_the_rest_unbilled(priced_run):
    _finish(priced_run, RunStatus.STOPPED, gpu_seconds=30, estimated=Decimal("2.00"))
    event = UsageEvent.objects.get()
    assert event.cost == Decimal("0.30") and event.refund == Decimal("1.70")


def test_a_failed_run_bills_the_time_it_held_the_hardware(priced_run):
    priced_run.transition(RunStatus.QUEUED)
    priced_run.transition(RunStatus.RUNNING)
    TrainingRun.objects.filter(pk=priced_run.pk).update(
        started_at=timezone.now() - timezone.timedelta(seconds=50)
    )
    priced_run.refresh_from_db()
    priced_run.transition(RunStatus.FAILED)
    assert UsageEvent.objects.get().quantity == 50


def test_a_cancelled_queued_run_bills_nothing(priced_run):
    priced_run.transition(RunStatus.QUEUED)
    priced_run.transition(RunStatus.CANCELLED)
    assert not UsageEvent.objects.exists()


def test_usage_outlives_its_project(priced_run, login, owner):
    _finish(priced_run, RunStatus.SUCCEEDED, gpu_seconds=10)
    project = priced_run.project
    login(owner).post(f"/projects/{project.pk}/delete/", {"confirm": project.name})
    event = UsageEvent.objects.get()
    assert event.project_id is None and event.project_name == project.name


def _usage(team, n):
    for i in range(n):
        UsageEvent.objects.create(
            team=team,
            project_name="p",
            kind=UsageKind.INFERENCE,
            meter="tokens",
            quantity=Decimal(10 + i),
            unit_price=Decimal("0.00001"),
            cost=Decimal("0.0001"),
            description="tokens",
            source=f"test:{i}",
        )


def test_reports_each_event_once_with_its_id_as_identifier(stripe_api, team):
    account = account_for(team.pk)
    account.stripe_customer_id = "cus_meter"
    account.save()
    _usage(team, 3)
    assert reporting.report_usage() == {"reported": 3, "failed": 0}
    sent = stripe_api.meter_events
    assert [e["identifier"] for e in sent] == [
        str(e.id) for e in UsageEvent.objects.order_by("created_at")
    ]
    assert {e["payload"]["stripe_customer_id"] for e in sent} == {"cus_meter"}
    assert sorted(int(e["payload"]["value"]) for e in sent) == [10, 11, 12]
    assert {e["event_name"] for e in sent} == {"vibeflow_tokens"}
    assert reporting.report_usage() == {"reported": 0, "failed": 0}
    assert len(stripe_api.meter_events) == 3


def test_stripe_going_down_mid_batch_loses_and_doubles_nothing(stripe_api, team):
    account = account_for(team.pk)
    account.stripe_customer_id = "cus_meter"
    account.save()
    _usage(team, 4)
    stripe_api.fail_meter_events_after = 1
    assert reporting.report_usage() == {"reported": 1, "failed": 1}
    pending = UsageEvent.objects.filter(reported_at__isnull=True)
    assert pending.count() == 3 and pending.exclude(report_error="").count() == 1
    stripe_api.fail_meter_events_after = None
    stripe_api.down = True
    assert reporting.report_usage()["reported"] == 0
    stripe_api.down = False
    assert reporting.report_usage() == {"reported": 3, "failed": 0}
    identifiers = [e["identifier"] for e in stripe_api.meter_events]
    assert len(identifiers) == len(set(identifiers)) == 4


def test_an_event_stripe_already_has_is_marked_not_sent_again(stripe_api, team):
    """Our answer was lost after Stripe recorded it: Stripe refuses the identifier."""
    account = account_for(team.pk)
    account.stripe_customer_id = "cus_meter"
    account.save()
    _usage(team, 1)
    reporting.report_usage()
    UsageEvent.objects.update(reported_at=None)  # as if the answer never arrived
    assert reporting.report_usage() == {"reported": 1, "failed": 0}
    assert len(stripe_api.meter_events) == 1


def test_teams_without_a_stripe_customer_are_not_reported(stripe_api, team):
    _usage(team, 2)
    assert reporting.report_usage() == {"reported": 0, "failed": 0}
    assert not stripe_api.meter_events


def test_a_resumed_run_bills_each_stretch(priced_run):
    _finish(priced_run, RunStatus.STOPPED, gpu_seconds=30)
    priced_run.transition(RunStatus.QUEUED)
    priced_run.transition(RunStatus.RUNNING)
    TrainingRun.objects.filter(pk=priced_run.pk).update(
        gpu_seconds=20, started_at=timezone.now() + timezone.timedelta(seconds=5)
    )
    priced_run.refresh_from_db()
    priced_run.transition(RunStatus.SUCCEEDED)
    assert sorted(e.quantity for e in UsageEvent.objects.all()) == [20, 30]
