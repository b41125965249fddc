"""Billing's periodic jobs (default queue, Celery beat) and the budget alert e-mail, thin: each
calls a plain function."""

from __future__ import annotations

from celery import shared_task

from . import alerts, budgets, reporting


@shared_task
def report_usage() -> dict:
    return reporting.report_usage()


@shared_task
def enforce_budgets() -> int:
    return budgets.enforce_all()


@shared_task
def send_budget_alert(team_id: str, level: int, used: str) -> int:
    return alerts.send_budget_alert(team_id, level, used)
