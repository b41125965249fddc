"""What the endpoint page shows about traffic, all computed from RequestLog and HealthCheck rows.

Everything is what callers got, errors included: a failed call (``models.call_failed``) counts
against the error rate and uptime, and is left out of the latency percentiles, where a server
that answers 502 in a few milliseconds would otherwise look fast. 4xx are the caller's mistakes
and count as neither.

The alert conditions of docs/PRODUCT.md "Model Performance Monitoring" live here: p95 latency above 5 s,
error rate above 1%, uptime below 99.9%.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain

from django.conf import settings
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from .models import (
    ANSWERED_CALL,
    FAILED_CALL,
    EndpointStatus,
    HealthCheck,
    Replica,
    ReplicaState,
    RequestLog,
    ServerKind,
    ServerState,
    call_failed,
    when,
)

P95_ALERT_MS = 5000
ERROR_RATE_ALERT = 0.01
UPTIME_ALERT = 0.999


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(p) WITHIN GROUP (ORDER BY ...)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=percentile, **extra)


@dataclass
class Stats:
    requests: int = 0
    errors_4xx: int = 0  # refused: the caller's mistake
    failed: int = 0  # models.call_failed
    answered: int = 0  # the calls the latency percentiles are over
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    feedback_avg: float | None = None
    feedback_count: int = 0
    uptime: float | None = None  # None: no call or probe in the window
    minutes_up: int = 0
    minutes_seen: int = 0
    checks: int = 0
    alerts: list[str] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        """The share of calls that failed on our side (the caller's own mistakes left out of the
        failures, not of the calls: the page reads "N of M calls failed")."""
        return self.failed / self.requests if self.requests else 0.0

    @property
    def error_percent(self) -> float:
        return 100 * self.error_rate

    @property
    def uptime_percent(self) -> float | None:
        return None if self.uptime is None else 100 * self.uptime

    @property
    def cost_per_request(self) -> Decimal | None:
        return (self.cost / self.requests).quantize(Decimal("0.000001")) if self.requests else None


def _measures() -> dict:
    """What Stats holds, as aggregates over RequestLog rows (for the whole endpoint or per version)."""
    return {
        "requests": Count("id"),
        "errors_4xx": Count("id", filter=Q(status_code__gte=400, status_code__lt=500)),
        "failed": Count("id", filter=FAILED_CALL),
        "answered": Count("id", filter=ANSWERED_CALL),
        # Over answered calls only: fast errors would pull them down.
        "p50_ms": Percentile(F("latency_ms"), 0.5, filter=ANSWERED_CALL),
        "p95_ms": Percentile(F("latency_ms"), 0.95, filter=ANSWERED_CALL),
        "p99_ms": Percentile(F("latency_ms"), 0.99, filter=ANSWERED_CALL),
        "tokens_in": Sum("tokens_in"),
        "tokens_out": Sum("tokens_out"),
        "cost": Sum("cost"),
        "feedback_avg": Avg("feedback"),
        "feedback_count": Count("id", filter=Q(feedback__isnull=False)),
    }


def _stats(values: dict) -> Stats:
    return Stats(**{k: v for k, v in values.items() if v is not None})


def endpoint_stats(endpoint, since=None) -> Stats:
    since = since or timezone.now() - timedelta(hours=24)
    stats = _stats(
        RequestLog.objects.filter(endpoint=endpoint, created_at__gte=since).aggregate(**_measures())
    )
    stats.checks = HealthCheck.objects.filter(endpoint=endpoint, created_at__gte=since).count()
    stats.minutes_up, stats.minutes_seen = minutes_answered(endpoint, since)
    stats.uptime = stats.minutes_up / stats.minutes_seen if stats.minutes_seen else None
    if stats.p95_ms is not None and stats.p95_ms > P95_ALERT_MS:
        stats.alerts.append(f"p95 latency is {stats.p95_ms / 1000:.1f} s (alert above 5 s).")
    if stats.requests and stats.error_rate > ERROR_RATE_ALERT:
        stats.alerts.append(
            f"{stats.failed} of {stats.requests} calls failed "
            f"({stats.error_rate:.1%}; alert above 1%)."
        )
    if stats.uptime is not None and stats.uptime < UPTIME_ALERT:
        stats.alerts.append(f"Uptime is {stats.uptime:.2%} (alert below 99.9%).")
    return stats


def minutes_answered(endpoint, since) -> tuple[int, int]:
    """Uptime's figures: (minutes up, minutes seen). A minute is seen when it had a call (the
    caller's mistakes left out) or a health probe; it is up when at least half of those were
    answered. Probes alone missed outages between them, and calls alone say nothing of the quiet
    hours: together they cover both."""
    calls = (
        RequestLog.objects.filter(endpoint=endpoint, created_at__gte=since)
        .filter(FAILED_CALL | ANSWERED_CALL)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(good=Count("id", filter=ANSWERED_CALL), bad=Count("id", filter=FAILED_CALL))
        .order_by()
    )
    probes = (
        HealthCheck.objects.filter(endpoint=endpoint, created_at__gte=since)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(good=Count("id", filter=Q(ok=True)), bad=Count("id", filter=Q(ok=False)))
        .order_by()
    )
    minutes: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for row in chain(calls, probes):
        minutes[row["minute"]][0] += row["good"]
        minutes[row["minute"]][1] += row["bad"]
    return sum(1 for good, bad in minutes.values() if good >= bad), len(minutes)


# "Down": most of the last calls failed, or the latest probe failed and no call was answered
# since. One failed call is not an outage (a single slow answer times out): it takes two.
RECENT = timedelta(minutes=5)
RECENT_CALLS = 20
LOOKBACK = timedelta(hours=24)  # how far back "since" is looked for, like the page's figures
DOWN_AFTER_FAILURES = 2
# A call refused because the endpoint is stopped or has no version yet (503 model_not_ready) is
# no sign of a dead server; the badge says Stopped or Deploying then. Left out here, a restarted
# endpoint is not shown "Not answering" for the calls it refused while it was stopped.
_NOT_A_SERVER_ANSWER = "model_not_ready"


@dataclass
class Health:
    """Whether a live endpoint answers now, from its last calls and its latest probe."""

    down: bool = False
    since: datetime | None = None  # the outage's first failure seen in the rows
    failed: int = 0  # of the last ``calls`` calls (at most RECENT_CALLS, within RECENT)
    calls: int = 0
    probe_failed_at: datetime | None = None  # set when the latest probe failed

    @property
    def why(self) -> str:
        """What the page and the badge say after "Not answering since <time> — "."""
        parts = []
        if self.failed:
            parts.append(
                "the last call failed"
                if self.calls == 1
                else f"{self.failed} of the last {self.calls} calls failed"
            )
        if self.probe_failed_at is not None:
            parts.append("its latest health check failed")
        return "; ".join(parts)


def endpoint_health(endpoint, now: datetime | None = None) -> Health:
    """Whether ``endpoint`` is down, and since when. Only a live endpoint can be: a stopped or
    deploying one says so on its badge.

    1. The last calls (RECENT_CALLS at most, within RECENT), the caller's mistakes left out:
       down when at least DOWN_AFTER_FAILURES of them failed and they are more than half.
    2. The latest probe, if recent: down when it failed and no call was answered after it.
    3. Since: ``_outage_start``.
    """
    if endpoint.status != EndpointStatus.LIVE:
        return Health()
    now = now or timezone.now()
    calls = list(
        RequestLog.objects.filter(
            endpoint=endpoint, created_at__gte=now - RECENT, created_at__lte=now
        )
        .filter(FAILED_CALL | ANSWERED_CALL)
        .exclude(error_code=_NOT_A_SERVER_ANSWER)
        .order_by("-created_at")
        .values_list("created_at", "status_code", "error_code")[:RECENT_CALLS]
    )
    failures = [at for at, status, code in calls if call_failed(status, code)]
    answers = [at for at, status, code in calls if not call_failed(status, code)]
    health = Health(failed=len(failures), calls=len(calls))
    calls_down = len(failures) >= DOWN_AFTER_FAILURES and 2 * len(failures) > len(calls)

    probe = (
        HealthCheck.objects.filter(
            endpoint=endpoint, created_at__gte=now - RECENT, created_at__lte=now
        )
        .order_by("-created_at")
        .first()
    )
    probe_down = (
        probe is not None and not probe.ok and not any(at > probe.created_at for at in answers)
    )
    if not (calls_down or probe_down):
        return health
    health.down = True
    health.probe_failed_at = probe.created_at if probe_down else None
    health.since = _outage_start(endpoint, now, failures)
    return health


def _outage_start(endpoint, now: datetime, recent_failures: list[datetime]) -> datetime:
    """The first failure (a call or a probe) after the last sign of life (an answered call or a
    passing probe) within the day; when answers and failures interleave, so that no failure
    follows the last answer, the first of the recent failures."""
    window = {"created_at__gte": now - LOOKBACK, "created_at__lte": now}
    calls = RequestLog.objects.filter(endpoint=endpoint, **window).exclude(
        error_code=_NOT_A_SERVER_ANSWER
    )
    probes = HealthCheck.objects.filter(endpoint=endpoint, **window)
    newest = [_newest(calls.filter(ANSWERED_CALL)), _newest(probes.filter(ok=True))]
    last_alive = max((at for at in newest if at is not None), default=None)
    if last_alive is not None:
        calls = calls.filter(created_at__gt=last_alive)
        probes = probes.filter(created_at__gt=last_alive)
    firsts = [_oldest(calls.filter(FAILED_CALL)), _oldest(probes.filter(ok=False))]
    firsts = [at for at in firsts if at is not None]
    return min(firsts) if firsts else min(recent_failures)


def _newest(rows) -> datetime | None:
    return rows.order_by("-created_at").values_list("created_at", flat=True).first()


def _oldest(rows) -> datetime | None:
    return rows.order_by("created_at").values_list("created_at", flat=True).first()


def note_health(endpoint) -> Health:
    """``endpoint_health``, kept on the endpoint (``Endpoint.record_health``): check_endpoints
    after each probe, and the endpoint's page, which may see an outage first."""
    health = endpoint_health(endpoint)
    endpoint.record_health(health.since if health.down else None)
    return health


def today_stats(endpoint) -> Stats:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return endpoint_stats(endpoint, since=start)


def per_version(endpoint, since=None) -> dict:
    """Stats per deployment, for the version list and the A/B comparison."""
    since = since or timezone.now() - timedelta(days=30)
    out = {}
    rows = (
        RequestLog.objects.filter(
            endpoint=endpoint, created_at__gte=since, deployment__isnull=False
        )
        .values("deployment")
        .annotate(**_measures())
    )
    for row in rows:
        deployment = row.pop("deployment")
        out[deployment] = _stats(row)
    return out


@dataclass
class ReplicaRow:
    version: int
    server: str
    kind: str
    state: str  # ready, loading, down, failed
    label: str
    calls: int  # answered through it in the last hour
    share: int  # percent of the endpoint's calls in the last hour


def replica_rows(endpoint, live, now: datetime | None = None) -> list[ReplicaRow]:
    """The live versions' replicas: where each is, whether it answers, and its share of the
    last hour's calls (from the request log)."""
    now = now or timezone.now()
    replicas = list(
        Replica.objects.filter(deployment__in=live)
        .select_related("server", "deployment__run")
        .order_by("deployment__created_at", "created_at")
    )
    if not replicas:
        return []
    counts = dict(
        RequestLog.objects.filter(
            endpoint=endpoint, created_at__gte=now - timedelta(hours=1), replica_id__isnull=False
        )
        .values_list("replica_id")
        .annotate(n=Count("id"))
    )
    total = sum(counts.values())
    rows = []
    for replica in replicas:
        server = replica.server
        state = replica.state
        if server.state == ServerState.DOWN and state == ReplicaState.READY:
            state = ReplicaState.DOWN
        since = replica.down_since or server.down_since
        label = {
            ReplicaState.READY: "Answering",
            ReplicaState.LOADING: "Loading the model",
            ReplicaState.DOWN: "Not answering" + (f" since {when(since)}" if since else ""),
            ReplicaState.FAILED: "Could not load: " + (replica.error or "see the server's log"),
        }[state]
        if server.kind == ServerKind.RUNPOD and state == ReplicaState.READY:
            most = max(1, server.slots // settings.RUNPOD_CALLS_PER_WORKER)
            label += f" (RunPod starts up to {most} GPU{'s' if most != 1 else ''} on calls, none when idle)"
        calls = counts.get(replica.pk, 0)
        rows.append(
            ReplicaRow(
                version=replica.deployment.run.number,
                server=server.name,
                kind=server.get_kind_display(),
                state=state,
                label=label,
                calls=calls,
                share=round(100 * calls / total) if total else 0,
            )
        )
    return rows
