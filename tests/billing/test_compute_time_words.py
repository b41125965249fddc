"""Usage names compute time by what ran it: a CPU's seconds are CPU time, a GPU's are GPU time,
while the stored meter (Stripe's) stays gpu_seconds for both."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing.models import Meter, UsageEvent, UsageKind

pytestmark = pytest.mark.django_db


def _event(team, kind, hardware, seconds, source):
    UsageEvent.objects.create(
        team=team,
        project_name="Support Bot",
        kind=kind,
        meter=Meter.GPU_SECONDS,
        quantity=Decimal(seconds),
        unit_price=Decimal("0.0002"),
        cost=Decimal(seconds) * Decimal("0.0002"),
        hardware=hardware,
        description=f"{kind} on {hardware}",
        source=source,
    )


def test_cpu_time_is_not_called_gpu_seconds(login, owner, team):
    _event(team, UsageKind.TRAINING, "This server's CPU", 494, "run:cpu")
    _event(team, UsageKind.EVALUATION, "NVIDIA A100 80GB", 61, "evaluation:gpu")
    html = login(owner).get(reverse("team_usage", args=[team.pk])).content.decode()
    assert "494 s of CPU time" in html
    assert "61 s of GPU time" in html
    assert "GPU seconds" not in html
    assert UsageEvent.objects.filter(meter="gpu_seconds").count() == 2  # stored as before
