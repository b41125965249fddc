"""Replicas that follow load: an autoscaled endpoint's replica count moves between its fewest
and most (the most within its team's plan), aiming at ``target_in_flight`` calls per replica.

Every AUTOSCALE_INTERVAL_S (``tasks.autoscale``) the endpoint's calls in flight are counted
where the gateway keeps them (a Redis set per endpoint, written by the script that admits a
call, so calls still waiting for a replica's place count too: ``gateway/inflight.py``) and kept
as a sample. Then ``decide``:

- **up** as soon as the mean over the last AUTOSCALE_UP_WINDOW_S needs more replicas than there
  are (more than the target per replica), straight to the number it needs;
- **down** only when the peak over the last AUTOSCALE_DOWN_WINDOW_S would have fitted in fewer,
  and the samples cover that whole window (a new endpoint, or one the autoscaler just started
  watching, is not scaled down on a moment's calm).

Up on a short window's mean and down on a long window's peak is the hysteresis: a load that
hovers around a boundary adds a replica once and keeps it, rather than adding and removing one
every round. Each change is a ``ScaleEvent`` (shown on the endpoint page with the load that
made it) and ``placement.reconcile`` loads or drops the replicas.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings

from apps.billing.metering import account_for

from . import placement, ratelimit
from .gateway.inflight import endpoint_set
from .models import Endpoint, EndpointStatus, ScaleEvent
from .servers import serving_deployments

log = logging.getLogger(__name__)

# Samples are kept a little past the longer window, so that "the window is covered" can be told.
KEEP_MARGIN_S = 60.0


def _samples_key(endpoint_id) -> str:
    return f"as:load:{endpoint_id}"


def in_flight(endpoint_id, now: float) -> int:
    """The endpoint's calls in flight now (places that lapsed, from a process that died, are
    not counted)."""
    return int(ratelimit.sync_client().zcount(endpoint_set(endpoint_id), int(now * 1000), "+inf"))


def record(endpoint_id, count: int, now: float) -> list[tuple[float, int]]:
    """Keep one sample; returns every sample kept (time, calls in flight), oldest first."""
    key = _samples_key(endpoint_id)
    keep_s = max(settings.AUTOSCALE_UP_WINDOW_S, settings.AUTOSCALE_DOWN_WINDOW_S) + KEEP_MARGIN_S
    with ratelimit.sync_client().pipeline(transaction=True) as pipe:
        pipe.zadd(key, {f"{now:.3f}:{count}": now})
        pipe.zremrangebyscore(key, "-inf", now - keep_s)
        pipe.expire(key, int(keep_s) + 1)
        pipe.zrange(key, 0, -1, withscores=True)
        *_, kept = pipe.execute()
    return [(score, int(member.decode().rpartition(":")[2])) for member, score in kept]


@dataclass(frozen=True)
class Decision:
    replicas: int
    load: float  # the mean (up) or the peak (down) that made it
    reason: str


def decide(
    current: int,
    samples: list[tuple[float, int]],
    now: float,
    *,
    target: int,
    fewest: int,
    most: int,
    up_window_s: float,
    down_window_s: float,
) -> Decision | None:
    """The replica count the samples ask for, or None to stay. Pure: the tests drive it."""
    if current < fewest:
        return Decision(fewest, 0.0, f"raised to the fewest replicas set ({fewest})")
    if current > most:
        return Decision(most, 0.0, f"lowered to the most replicas allowed ({most})")
    recent = [count for at, count in samples if at >= now - up_window_s]
    if recent:
        mean = sum(recent) / len(recent)
        needed = min(most, math.ceil(mean / target))
        if needed > current:
            return Decision(
                needed,
                mean,
                f"{mean:.1f} calls in flight on average over the last {up_window_s:g} s, "
                f"more than {target} per replica on {current}",
            )
    covered = bool(samples) and samples[0][0] <= now - down_window_s
    window = [count for at, count in samples if at >= now - down_window_s]
    if covered and window:
        peak = max(window)
        needed = max(fewest, math.ceil(peak / target))
        if needed < current:
            return Decision(
                needed,
                float(peak),
                f"at most {peak} calls in flight over the last {down_window_s:g} s, "
                f"{target} per replica fits on {needed}",
            )
    return None


def bounds(endpoint: Endpoint) -> tuple[int, int]:
    """(fewest, most) replicas: the endpoint's, the most capped by its team's plan."""
    plan = account_for(endpoint.project.team_id).effective_plan
    most = max(1, min(endpoint.max_replicas, plan.max_replicas))
    return min(endpoint.min_replicas, most), most


def scale(endpoint: Endpoint, now: float | None = None) -> ScaleEvent | None:
    """One autoscaling round for one endpoint: sample, decide, and change the count."""
    now = time.time() if now is None else now
    samples = record(endpoint.pk, in_flight(endpoint.pk, now), now)
    fewest, most = bounds(endpoint)
    decision = decide(
        endpoint.replicas,
        samples,
        now,
        target=endpoint.target_in_flight,
        fewest=fewest,
        most=most,
        up_window_s=settings.AUTOSCALE_UP_WINDOW_S,
        down_window_s=settings.AUTOSCALE_DOWN_WINDOW_S,
    )
    if decision is None:
        return None
    # Conditional on the count read: the settings form changing it meanwhile wins.
    changed = Endpoint.objects.filter(pk=endpoint.pk, replicas=endpoint.replicas).update(
        replicas=decision.replicas
    )
    if not changed:
        return None
    event = ScaleEvent.objects.create(
        endpoint=endpoint,
        before=endpoint.replicas,
        after=decision.replicas,
        load=decision.load,
        reason=decision.reason,
    )
    log.info(
        "endpoint scaled",
        extra={"endpoint": str(endpoint.pk), "before": event.before, "after": event.after},
    )
    placement.reconcile(endpoint.pk)
    return event


def run(now: float | None = None) -> dict:
    """A round over every autoscaled endpoint with a version serving."""
    endpoints = (
        # A version on RunPod serverless is scaled by RunPod (its workers).
        Endpoint.objects.filter(
            autoscale=True, deployments__in=serving_deployments().filter(serverless=False)
        )
        .exclude(status=EndpointStatus.STOPPED)
        .select_related("project")
        .distinct()
    )
    scaled = []
    for endpoint in endpoints:
        event = scale(endpoint, now)
        if event is not None:
            scaled.append(f"{endpoint.pk}: {event.before} -> {event.after}")
    return {"scaled": scaled}
