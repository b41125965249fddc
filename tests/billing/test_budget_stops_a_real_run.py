"""The budget stop on a real (small) run: the engine trains the tiny model in a worker thread,
the beat job finds the team over its budget, and the run ends stopped on a checkpoint, billed
only for the seconds it used."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from apps.billing.metering import account_for
from apps.billing.models import UsageEvent
from apps.billing.tasks import enforce_budgets
from apps.catalog.models import BaseModel, Hardware
from apps.training.models import RunStatus, TrainingRun
from apps.training.tasks import run_training
from tests.e2e.conftest import wait_for
from tests.training.helpers import draft_run


@pytest.mark.django_db(transaction=True)
def test_crossing_the_budget_stops_a_running_run_on_a_checkpoint(
    seeded_catalog, login, owner, project, team, tiny_model_dir
):
    client = login(owner)
    # Many short steps on the tiny model, so the run is still going when the budget is crossed.
    run = draft_run(client, project, epochs=50, batch_size=1, gradient_accumulation=1)
    BaseModel.objects.filter(pk=run.base_model_id).update(bundled=False, source=str(tiny_model_dir))
    # $36/hour = $0.01 a second; a $0.02 budget lasts about two seconds.
    Hardware.objects.filter(pk=run.hardware_id).update(hourly_price=Decimal("36"))
    account = account_for(team.pk)
    account.monthly_budget_usd = Decimal("0.02")
    account.save()
    # The CPU's estimate (its stated speed) is over this tiny budget: the owner starts anyway,
    # which is what the stop at the limit is for.
    client.post(reverse("run_start", args=[run.pk]), {"override_budget": "1"})
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED

    outcome = {}

    def work():
        try:
            outcome["status"] = run_training(str(run.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        wait_for(
            lambda: TrainingRun.objects.filter(pk=run.pk, steps_done__gte=2).exists(),
            120,
            "the run to train a few steps",
        )
        # What beat does every BILLING_BUDGET_INTERVAL_S, until it stops the run.
        wait_for(
            lambda: (
                enforce_budgets() is not None
                and TrainingRun.objects.filter(pk=run.pk, status=RunStatus.STOPPING).exists()
            ),
            60,
            "the budget job to stop the run",
        )
    finally:
        worker.join(timeout=120)
    assert outcome.get("status") == RunStatus.STOPPED
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED and run.steps_done < run.total_steps
    assert run.checkpoints.exists()
    assert any(a["code"] == "budget" for a in run.alerts)
    event = UsageEvent.objects.get(kind="training")
    assert 0 < event.quantity and event.cost == (event.quantity * Decimal("0.01"))
    assert event.refund is None or event.refund >= 0
    account.refresh_from_db()
    assert account.spending_stopped_at is not None
