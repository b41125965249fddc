"""Endpoint alerts that reach people: an alert condition the endpoint page shows becomes an
``Incident`` when first seen, and the team's owners and admins are told once (e-mail, and the
team's alert webhook: accounts/webhooks.py). It closes when the condition clears; the next time
it appears is a new incident, told again.

The conditions are the page's alert lines, over the last INCIDENT_WINDOW_MIN minutes so that an
incident also ends: not answering (the endpoint's ``down_since``), more than 1% of calls failed,
p95 latency above 5 s, the last two only with INCIDENT_MIN_CALLS calls or more in the window
(three slow calls at night are not an incident). ``review`` runs after each probe round
(``tasks.check_endpoints``).
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.webhooks import tell_managers

from . import monitoring
from .models import Endpoint, Incident, IncidentKind


def conditions(endpoint: Endpoint, now=None) -> dict[str, str]:
    """The alert conditions that hold now: kind → what to say."""
    now = now or timezone.now()
    found = {}
    if endpoint.down_since is not None:
        found[IncidentKind.DOWN] = (
            f"{endpoint.name} has not been answering since "
            f"{endpoint.down_since:%Y-%m-%d %H:%M} UTC."
        )
    window = settings.INCIDENT_WINDOW_MIN
    stats = monitoring.endpoint_stats(endpoint, since=now - timedelta(minutes=window))
    if (
        stats.requests >= settings.INCIDENT_MIN_CALLS
        and stats.error_rate > monitoring.ERROR_RATE_ALERT
    ):
        found[IncidentKind.ERRORS] = (
            f"{stats.failed} of {stats.requests} calls to {endpoint.name} failed in the last "
            f"{window} minutes ({stats.error_rate:.1%}; alert above 1%)."
        )
    if (
        stats.answered >= settings.INCIDENT_MIN_CALLS
        and stats.p95_ms is not None
        and stats.p95_ms > monitoring.P95_ALERT_MS
    ):
        found[IncidentKind.LATENCY] = (
            f"{endpoint.name}'s p95 latency is {stats.p95_ms / 1000:.1f} s over the last "
            f"{window} minutes (alert above 5 s)."
        )
    return found


def review(endpoint: Endpoint, now=None) -> dict:
    """Open incidents for new conditions (each told once, after commit), close cleared ones."""
    now = now or timezone.now()
    holding = conditions(endpoint, now)
    opened, closed = [], []
    for incident in endpoint.incidents.filter(closed_at__isnull=True):
        if incident.kind not in holding:
            Incident.objects.filter(pk=incident.pk).update(closed_at=now)
            closed.append(incident.kind)
    open_kinds = set(
        endpoint.incidents.filter(closed_at__isnull=True).values_list("kind", flat=True)
    )
    for kind, message in holding.items():
        if kind in open_kinds:
            continue
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    endpoint=endpoint, kind=kind, message=message, opened_at=now
                )
        except IntegrityError:
            continue  # another round opened it a moment ago
        transaction.on_commit(
            lambda pk=incident.pk: current_app.send_task(
                "apps.endpoints.tasks.tell_incident", args=[pk]
            )
        )
        opened.append(kind)
    return {"opened": opened, "closed": closed}


def tell(incident_id: int) -> int:
    """Tell the team about an incident, once: the row is claimed before anything is sent."""
    claimed = Incident.objects.filter(pk=incident_id, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return 0
    incident = Incident.objects.select_related("endpoint__project").get(pk=incident_id)
    endpoint = incident.endpoint
    page = f"{settings.VIBEFLOW_PUBLIC_URL or ''}/endpoints/{endpoint.pk}/"
    return tell_managers(
        endpoint.project.team_id,
        f"VibeFlow alert: {endpoint.name} ({incident.get_kind_display().lower()})",
        f"{incident.message}\n\nProject: {endpoint.project.name}\nEndpoint page: {page}\n",
    )
