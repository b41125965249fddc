"""The version of everything the gateway's directory caches (gateway/directory.py): a random
token in Redis that every change to a key, an endpoint, a deployment or a team's limits replaces,
at once and again after the transaction commits. The models call `bump` on their changes;
billing's `limits_changed` reaches it through `on_limits_changed`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction

from vibeflow_site.env import redis_url_for

VERSION_KEY = "gw:directory-version"

_redis = None


def _bump_now() -> None:
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(redis_url_for(settings.REDIS_URL, 1))
    # A random token, not a counter: after Redis loses its data a counter would start again and
    # could match a number that an old cached entry still carries.
    _redis.set(VERSION_KEY, uuid.uuid4().hex)


def bump() -> None:
    _bump_now()
    transaction.on_commit(_bump_now)


def on_limits_changed(sender, **kwargs) -> None:
    """Billing's `limits_changed`: a plan, a budget or a spending stop changed."""
    bump()
