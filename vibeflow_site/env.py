"""Small helpers that turn environment variables into settings.

They fail loudly on a malformed value: a typo in production should stop the
process at start-up, not surface as odd behaviour hours later.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def redis_url_for(base: str, db: int, *, for_celery: bool = False) -> str:
    """Derive the URL of one Redis database from REDIS_URL.

    One Redis serves several roles (broker, cache, channel layer), each on its
    own database number so a FLUSHDB on one never empties another. REDIS_URL may
    name a TCP server (redis://host:port/N) or a unix socket (unix:///path), as
    the embedded redis-server uses. Celery spells a socket ``redis+socket://``.
    """
    parts = urlsplit(base)
    if parts.scheme in ("redis", "rediss"):
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))
    if parts.scheme == "unix":
        # Built by hand: urlunsplit drops the "//" of a URL with no host.
        query = {k: v for k, v in parse_qs(parts.query).items() if k not in ("db", "virtual_host")}
        query["virtual_host" if for_celery else "db"] = [str(db)]
        scheme = "redis+socket" if for_celery else "unix"
        return f"{scheme}://{parts.path}?{urlencode(query, doseq=True)}"
    raise ImproperlyConfigured(
        f"REDIS_URL must start with redis://, rediss:// or unix://, got {base!r}"
    )
