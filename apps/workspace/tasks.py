"""The finished example's job (gpu queue: it trains)."""

from celery import shared_task

from . import showcase


@shared_task(acks_late=True)
def prepare_showcase(project_id: str) -> str:
    return showcase.prepare(project_id)
