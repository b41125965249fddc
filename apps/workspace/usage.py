"""The usage dashboard's figures (docs/PRODUCT.md "User Dashboard"), each summed from usage events or the
rows they came from, for one team and one calendar month (UTC).

Money comes from usage events. Everything said about API calls (how many, how many failed, their
tokens, the table by endpoint and the sentence shown when there are none) comes from one query
of the request log, so no two of them can disagree: a call that failed used no tokens and left
no usage event, and counting events for one figure and log rows for another once showed
"API calls 1" beside "No API calls this month"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDay

from apps.billing.models import UsageKind
from apps.billing.statements import events, month_bounds
from apps.endpoints.models import Deployment, RequestLog
from apps.training.models import RunStatus, TrainingRun


@dataclass
class Usage:
    start: datetime
    end: datetime
    models_trained: int = 0
    training_seconds: Decimal = Decimal(0)
    data_tokens: int = 0
    deployments: int = 0
    api_calls: int = 0
    failed_calls: int = 0  # answered with an error: no tokens, nothing billed
    inference_tokens: int = 0
    training_cost: Decimal = Decimal(0)
    evaluation_cost: Decimal = Decimal(0)
    inference_cost: Decimal = Decimal(0)
    not_billed: Decimal = Decimal(0)  # estimates of stopped runs beyond what they used
    days: list[dict] = field(default_factory=list)
    by_project: list[dict] = field(default_factory=list)
    by_endpoint: list[dict] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.training_cost + self.evaluation_cost + self.inference_cost


def usage(team_id, month: str | None = None) -> Usage:
    start, end = month_bounds(month)
    result = Usage(start, end)
    rows = events(team_id, start, end)
    for row in rows.values("kind").annotate(cost=Sum("cost"), quantity=Sum("quantity")):
        if row["kind"] == UsageKind.TRAINING:
            result.training_cost, result.training_seconds = row["cost"], row["quantity"]
        elif row["kind"] == UsageKind.EVALUATION:
            result.evaluation_cost = row["cost"]
        else:
            result.inference_cost = row["cost"]
    for event in rows.filter(kind=UsageKind.TRAINING, estimated_cost__isnull=False):
        result.not_billed += event.refund or 0
    runs = TrainingRun.objects.filter(
        project__team_id=team_id, finished_at__gte=start, finished_at__lt=end
    )
    result.models_trained = runs.filter(status=RunStatus.SUCCEEDED).count()
    result.data_tokens = runs.aggregate(total=Sum("tokens_seen"))["total"] or 0
    result.deployments = Deployment.objects.filter(
        endpoint__project__team_id=team_id, created_at__gte=start, created_at__lt=end
    ).count()
    result.by_endpoint = _calls_by_endpoint(
        RequestLog.objects.filter(
            project__team_id=team_id, created_at__gte=start, created_at__lt=end
        )
    )
    for row in result.by_endpoint:
        result.api_calls += row["requests"]
        result.failed_calls += row["failed"]
        result.inference_tokens += row["tokens"]

    per_day = {
        row["day"].date(): row["cost"]
        for row in rows.annotate(day=TruncDay("created_at", tzinfo=UTC))
        .values("day")
        .annotate(cost=Sum("cost"))
    }
    top = max(per_day.values(), default=Decimal(0)) or Decimal(1)
    day = start
    while day < end:
        cost = per_day.get(day.date(), Decimal(0))
        result.days.append({"date": day.date(), "cost": cost, "percent": int(cost * 100 / top)})
        day += timedelta(days=1)
    result.by_project = list(
        rows.values("project_name")
        .annotate(cost=Sum("cost"), events=Count("id"))
        .order_by("-cost", "project_name")
    )
    return result


def _calls_by_endpoint(calls) -> list[dict]:
    """The period's API calls by endpoint (the test console's included; a call naming no known
    model has no endpoint): requests, failed ones, tokens and what they cost."""
    rows = (
        calls.values("endpoint__name", "project__name")
        .annotate(
            requests=Count("id"),
            failed=Count("id", filter=Q(status_code__gte=400)),
            tokens=Sum(F("tokens_in") + F("tokens_out")),
            cost=Sum("cost"),
        )
        .order_by("-cost", "-requests", "endpoint__name")
    )
    return [
        {
            "endpoint_name": row["endpoint__name"] or "",
            "project_name": row["project__name"],
            "requests": row["requests"],
            "failed": row["failed"],
            "tokens": int(row["tokens"] or 0),
            "cost": row["cost"] or Decimal(0),
        }
        for row in rows
    ]
