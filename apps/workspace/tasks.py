"""The finished example's job (gpu queue: it trains)."""

from celery import shared_task

from . import showcase


@shared_task(acks_late=True)
def prepare_showcase(project_id: str) -> str:
    return showcase.prepare(project_id)


# Its name before it moved here (2026-12-07): a message queued under it before an upgrade still runs.
@shared_task(name="apps.projects.showcase.prepare_showcase", acks_late=True)
def prepare_showcase_old_name(project_id: str) -> str:
    return showcase.prepare(project_id)
