from celery import shared_task

from .pricing import PricesUnavailable, refresh_runpod_prices


@shared_task
def refresh_gpu_prices() -> str:
    """Daily (Celery beat) and on demand from the admin."""
    try:
        changes = refresh_runpod_prices()
    except PricesUnavailable as exc:
        return f"skipped: {exc}"
    return f"refreshed {len(changes)} prices"
