"""Probing live endpoints: ask each one's servers for /health, keep the answer as a HealthCheck
row, and note on the endpoint whether it answers. `tasks.check_endpoints` calls `check_live`."""

from __future__ import annotations

import time

from django.utils import timezone

from . import incidents, monitoring
from .models import (
    DeploymentStatus,
    Endpoint,
    EndpointStatus,
    HealthCheck,
    Incident,
    InferenceServer,
    Replica,
    ReplicaState,
)
from .servers import probe


def check_live() -> int:
    """Probe each live endpoint's replicas' servers, then note on the endpoint whether it answers (its
    probe and its last calls: ``monitoring.endpoint_health``), so its badge says "Not answering
    since ..." everywhere, lists included, until it answers again."""
    checked = 0
    for endpoint in Endpoint.objects.filter(status=EndpointStatus.LIVE):
        live = endpoint.deployments.filter(status=DeploymentStatus.READY, weight__gt=0)
        # Its replicas' servers (a version served before replicas were rows: its address),
        # each asked the way its kind answers (a RunPod endpoint through RunPod's /health).
        servers = {
            replica.server.url: replica.server
            for replica in Replica.objects.filter(
                deployment__in=live, state__in=[ReplicaState.READY, ReplicaState.DOWN]
            ).select_related("server")
        } or {
            url: InferenceServer(url=url)
            for url in live.exclude(server_url="").values_list("server_url", flat=True)
        }
        urls = sorted(servers)
        answered, failures, latency = 0, [], 0.0
        for url in urls:
            started = time.monotonic()
            why = probe(servers[url])
            if why:
                failures.append(f"{url}: {why}")
            else:
                answered += 1
            latency = max(latency, (time.monotonic() - started) * 1000)
        # The endpoint answers while one of its replicas does; the others' failures are noted.
        ok, detail = answered > 0, "; ".join(failures)[:200]
        if urls:
            HealthCheck.objects.create(endpoint=endpoint, ok=ok, latency_ms=latency, detail=detail)
            checked += 1
        monitoring.note_health(endpoint)
        incidents.review(endpoint)  # tells the team once when an alert condition appears
    # Incidents of endpoints no longer live end (a stopped endpoint is not an outage).
    Incident.objects.filter(closed_at__isnull=True).exclude(
        endpoint__status=EndpointStatus.LIVE
    ).update(closed_at=timezone.now())
    # Stopped or redeploying: its badge says so, and a later start must not inherit an old outage.
    Endpoint.objects.exclude(status=EndpointStatus.LIVE).filter(down_since__isnull=False).update(
        down_since=None
    )
    HealthCheck.objects.filter(created_at__lt=timezone.now() - timezone.timedelta(days=31)).delete()
    return checked
