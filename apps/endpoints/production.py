"""Production feedback becomes the next dataset: the calls an endpoint kept (``log_content``),
the ones its callers scored low, and a new dataset version made from chosen calls, which goes
through the same detection and quality checks as an upload.

Which calls become rows:

- ``corrected``: calls scored low (``LOW_SCORE`` or less) that a correction came with; the row
  teaches the correction, not the answer that was scored low.
- ``day``: every kept call of one day, as answered, leaving out low-scored ones that have no
  correction (teaching a model its own bad answers makes it worse), and using the correction
  where there is one.

Kept content is deleted once the endpoint's retention ends (``purge``, a daily beat job).
"""

from __future__ import annotations

import datetime
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.db.models import DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from apps.datasets.intake import start_version
from apps.datasets.models import DatasetVersion
from apps.datasets.storage import store_path

from .models import Endpoint, LoggedCall

LOW_SCORE = 2  # feedback of 1 or 2 out of 5 is "low"
LOW_SHOWN = 20  # low-scored calls listed on the endpoint page
MAX_ROWS = 50_000  # one build's rows at most

CORRECTED, DAY = "corrected", "day"


class NothingToBuild(ValueError):
    """No kept call matches the choice; the message says what would."""


def low_scored(endpoint: Endpoint, limit: int = LOW_SHOWN):
    """The endpoint's kept calls scored low, newest first, with their feedback."""
    return (
        LoggedCall.objects.filter(endpoint=endpoint, request__feedback__lte=LOW_SCORE)
        .select_related("request")
        .order_by("-created_at")[:limit]
    )


def chosen(endpoint: Endpoint, selection: str, day: datetime.date | None = None):
    calls = LoggedCall.objects.filter(endpoint=endpoint).select_related("request")
    if selection == CORRECTED:
        return calls.filter(request__feedback__lte=LOW_SCORE).exclude(correction="")
    if selection == DAY and day is not None:
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
        calls = calls.filter(created_at__gte=start, created_at__lt=start + datetime.timedelta(1))
        bad = Q(request__feedback__lte=LOW_SCORE) & Q(correction="")
        return calls.exclude(bad)
    raise ValueError(f"unknown selection {selection!r}")


def row(call: LoggedCall) -> dict:
    """One training example in the chat format: the prompt's messages and the answer taught."""
    answer = call.correction or call.answer
    return {"messages": [*call.messages, {"role": "assistant", "content": answer}]}


@dataclass
class Built:
    version: DatasetVersion
    rows: int


def build(endpoint: Endpoint, user, selection: str, day=None) -> Built:
    """A new version of the endpoint's production dataset (made the first time) from the chosen
    calls, queued for analysis like an upload."""
    calls = list(chosen(endpoint, selection, day).order_by("created_at")[:MAX_ROWS])
    if not calls:
        raise NothingToBuild(
            "No kept call scored low has a correction yet: send one with /v1/feedback "
            '("correction"), or build from a day\'s calls.'
            if selection == CORRECTED
            else f"No call was kept on {day:%b %-d, %Y}."
        )
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as out:
        for call in calls:
            out.write(json.dumps(row(call), ensure_ascii=False) + "\n")
    path = Path(out.name)
    try:
        stored = store_path(path)
    finally:
        path.unlink(missing_ok=True)
    name = f"{endpoint.name} production calls"
    dataset = endpoint.project.datasets.filter(name=name).first()
    what = (
        f"{len(calls)} low-scored calls with their corrections"
        if selection == CORRECTED
        else f"{len(calls)} calls of {day:%b %-d, %Y}"
    )
    version = start_version(
        endpoint.project,
        user,
        stored,
        name,
        f"From {endpoint.name}'s production: {what}",
        dataset=dataset,
    )
    return Built(version, len(calls))


def purge(now=None) -> int:
    """Delete kept content past each endpoint's retention; returns how many calls lost it."""
    now = now or timezone.now()
    kept_for = ExpressionWrapper(
        F("endpoint__content_retention_days") * datetime.timedelta(days=1),
        output_field=DurationField(),
    )
    deleted, _ = (
        LoggedCall.objects.alias(kept_for=kept_for)
        .filter(created_at__lt=now - F("kept_for"))
        .delete()
    )
    return deleted
