"""Liveness and readiness probes.

/healthz says the process answers; it touches nothing else, so a database outage
never makes an orchestrator restart healthy web processes. /readyz says whether
this instance can do useful work: PostgreSQL, Redis and at least one Celery
worker answer.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready", with the reason
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_timeout=2)
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_workers(timeout: float) -> tuple[str | None, list[str]]:
    try:
        replies = celery_app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return "no Celery worker answered", []
    return None, names


@never_cache
@require_GET
def readyz(request):
    started = time.monotonic()
    checks = {}
    error = _check_database()
    checks["database"] = {"ok": error is None, **({"error": error} if error else {})}
    error = _check_redis()
    checks["redis"] = {"ok": error is None, **({"error": error} if error else {})}
    if checks["redis"]["ok"]:
        error, workers = _check_workers(timeout=1.0)
    else:
        error, workers = "skipped: Redis is down", []
    checks["workers"] = {
        "ok": error is None,
        "names": workers,
        **({"error": error} if error else {}),
    }
    ready = all(check["ok"] for check in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }
    return JsonResponse(body, status=200 if ready else 503)
