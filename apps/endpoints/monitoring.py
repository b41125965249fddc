"""What the endpoint page shows about traffic, all computed from RequestLog and HealthCheck rows.

The spec's alert conditions ("Model Performance Monitoring") live here: p95 latency above 5 s,
error rate above 1%, uptime below 99.9%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, Sum
from django.utils import timezone

from .models import HealthCheck, RequestLog

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
    errors_4xx: int = 0
    errors_5xx: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    feedback_avg: float | None = None
    feedback_count: int = 0
    uptime: float | None = None  # None: no probe yet
    checks: int = 0
    alerts: list[str] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return (self.errors_4xx + self.errors_5xx) / self.requests if self.requests else 0.0

    @property
    def cost_per_request(self) -> Decimal | None:
        return (self.cost / self.requests).quantize(Decimal("0.000001")) if self.requests else None


def _measures() -> dict:
    """What Stats holds, as aggregates over RequestLog rows (for the whole endpoint or per version)."""
    return {
        "requests": Count("id"),
        "errors_4xx": Count("id", filter=Q(status_code__gte=400, status_code__lt=500)),
        "errors_5xx": Count("id", filter=Q(status_code__gte=500)),
        "p50_ms": Percentile(F("latency_ms"), 0.5),
        "p95_ms": Percentile(F("latency_ms"), 0.95),
        "p99_ms": Percentile(F("latency_ms"), 0.99),
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
    checks = HealthCheck.objects.filter(endpoint=endpoint, created_at__gte=since).aggregate(
        total=Count("id"), ok=Count("id", filter=Q(ok=True))
    )
    stats.checks = checks["total"]
    stats.uptime = checks["ok"] / checks["total"] if checks["total"] else None
    if stats.p95_ms is not None and stats.p95_ms > P95_ALERT_MS:
        stats.alerts.append(f"p95 latency is {stats.p95_ms / 1000:.1f} s (alert above 5 s).")
    if stats.requests and stats.error_rate > ERROR_RATE_ALERT:
        stats.alerts.append(f"Error rate is {stats.error_rate:.1%} (alert above 1%).")
    if stats.uptime is not None and stats.uptime < UPTIME_ALERT:
        stats.alerts.append(f"Uptime is {stats.uptime:.2%} (alert below 99.9%).")
    return stats


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
