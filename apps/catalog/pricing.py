"""Refreshing GPU prices from RunPod through the runpod SDK."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Hardware

SOURCE = "RunPod's lowest on-demand price"


class PricesUnavailable(Exception):
    pass


@dataclass
class Change:
    slug: str
    old: Decimal
    new: Decimal


def _price(gpu: dict) -> float | None:
    lowest = (gpu.get("lowestPrice") or {}).get("uninterruptablePrice")
    if lowest:
        return float(lowest)
    offers = [p for p in (gpu.get("securePrice"), gpu.get("communityPrice")) if p]
    return float(min(offers)) if offers else None


def refresh_runpod_prices(api_key: str | None = None) -> list[Change]:
    """Read the current price of every GPU RunPod offers and store it with its source and date.

    Raises PricesUnavailable (no key, refused key, or RunPod unreachable); GPUs RunPod does
    not list keep their price and its original source.
    """
    import requests
    import runpod
    from runpod import error as runpod_error

    key = api_key or settings.RUNPOD_API_KEY
    if not key:
        raise PricesUnavailable("Set RUNPOD_API_KEY to refresh prices from RunPod.")
    changes = []
    now = timezone.now()
    for hardware in Hardware.objects.exclude(runpod_gpu_id=""):
        try:
            gpu = runpod.get_gpu(hardware.runpod_gpu_id, api_key=key)
        except runpod_error.AuthenticationError as exc:
            raise PricesUnavailable("RunPod refused the API key.") from exc
        except requests.RequestException as exc:
            raise PricesUnavailable(f"RunPod could not be reached ({type(exc).__name__}).") from exc
        except (ValueError, runpod_error.QueryError):
            continue  # RunPod no longer lists this GPU: keep the stored price
        price = _price(gpu)
        if price is None:
            continue
        new = Decimal(str(round(price, 3)))
        with transaction.atomic():
            Hardware.objects.filter(pk=hardware.pk).update(
                hourly_price=new, price_source=SOURCE, price_refreshed_at=now
            )
        changes.append(Change(hardware.slug, hardware.hourly_price, new))
    return changes
