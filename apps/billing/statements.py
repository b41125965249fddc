"""A team's usage events for one calendar month (UTC): the period every usage figure, the CSV
and the budget are read over."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from django.utils import timezone

from .models import UsageEvent


def month_bounds(month: str | None) -> tuple[datetime, datetime]:
    """[first day, first day of the next month) for "YYYY-MM"; this month when absent or bad."""
    now = timezone.now()
    try:
        year, number = (int(part) for part in (month or "").split("-"))
        if not 2000 <= year <= 9000:
            raise ValueError(year)
        start = now.replace(year=year, month=number, day=1)
    except (ValueError, TypeError, OverflowError):
        start = now.replace(day=1)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def events(team_id, start, end):
    return UsageEvent.objects.filter(team_id=team_id, created_at__gte=start, created_at__lt=end)
