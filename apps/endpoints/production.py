"""Production feedback becomes the next dataset: the calls an endpoint kept (``log_content``),
the ones its callers scored low, and a new dataset version made from chosen calls, which goes
through the same detection and quality checks as an upload.

Which calls become rows:

- ``corrected``: calls scored low (``LOW_SCORE`` or less) that a correction came with; the row
  teaches the correction, not the answer that was scored low.
- ``day``: every kept call of one day, as answered, leaving out low-scored ones that have no
  correction (teaching a model its own bad answers makes it worse), and using the correction
  where there is one.

Kept content is deleted once the endpoint's retention ends (``purge``, an hourly beat job),
and at once when the endpoint stops keeping it (``forget``).
"""

from __future__ import annotations

import datetime
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
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
    left_out: int  # chosen calls past the size cap (the oldest)


def _write(calls, out) -> tuple[int, int]:
    """Rows as one JSON array (read as JSON, never mistaken for anything else), newest first,
    until the upload size cap; returns (written, left out)."""
    cap = settings.DATASET_MAX_UPLOAD_BYTES
    written = left_out = size = 0
    out.write("[")
    for call in calls:
        line = json.dumps(row(call), ensure_ascii=False)
        if size + len(line.encode()) + 2 > cap or written >= MAX_ROWS:
            left_out += 1
            continue
        out.write(("," if written else "") + "\n" + line)
        size += len(line.encode()) + 2
        written += 1
    out.write("\n]\n")
    return written, left_out


def build(endpoint: Endpoint, user, selection: str, day=None) -> Built:
    """A new version of the endpoint's production dataset (made by the first build) from the
    chosen calls, queued for analysis like an upload."""
    calls = (
        chosen(endpoint, selection, day)
        .select_related(None)
        .only("messages", "answer", "correction")
        .order_by("-created_at")
        .iterator(chunk_size=500)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as out:
        written, left_out = _write(calls, out)
    path = Path(out.name)
    try:
        if not written:
            raise NothingToBuild(
                "No kept call scored low has a correction yet: send one with /v1/feedback "
                '("correction"), or build from a day\'s calls.'
                if selection == CORRECTED
                else f"No call of {day:%b %-d, %Y} can be used: none was kept, or only "
                "low-scored ones without a correction."
            )
        stored = store_path(path)
    finally:
        path.unlink(missing_ok=True)
    what = (
        f"{written} low-scored calls with their corrections"
        if selection == CORRECTED
        else f"{written} calls of {day:%b %-d, %Y}"
    )
    if left_out:
        what += f" ({left_out} older ones past the size limit left out)"
    with transaction.atomic():
        # One production dataset per endpoint, even when two builds start at once.
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        dataset = locked.production_dataset
        version = start_version(
            endpoint.project,
            user,
            stored,
            f"{endpoint.name} production calls",
            f"From {endpoint.name}'s production: {what}",
            dataset=dataset,
        )
        if dataset is None:
            Endpoint.objects.filter(pk=endpoint.pk).update(production_dataset=version.dataset)
    return Built(version, written, left_out)


def purge(now=None) -> int:
    """Delete kept content past each endpoint's retention; returns how many calls lost it."""
    now = now or timezone.now()
    deleted = 0
    for endpoint_id, days in Endpoint.objects.filter(
        pk__in=LoggedCall.objects.values("endpoint_id")
    ).values_list("pk", "content_retention_days"):
        count, _ = LoggedCall.objects.filter(
            endpoint_id=endpoint_id, created_at__lt=now - datetime.timedelta(days=days)
        ).delete()
        deleted += count
    return deleted


def forget(endpoint: Endpoint) -> int:
    """Keeping turned off: what was kept goes now."""
    count, _ = LoggedCall.objects.filter(endpoint=endpoint).delete()
    return count
