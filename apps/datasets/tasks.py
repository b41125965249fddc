"""The datasets app's Celery task, thin: it takes an id and calls a plain function."""

from __future__ import annotations

from celery import shared_task

from . import builder


@shared_task(acks_late=True)
def analyse_version(version_id: str) -> str:
    return builder.analyse_version(version_id)
