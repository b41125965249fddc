"""API keys: made, shown once, stored as a sha256, rotated with a grace period, revoked."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiKey

KEY_PREFIX = "vf_live_"
SHOWN_CHARS = 6  # of the random part, kept in clear to tell keys apart in lists


def hash_key(raw: str) -> str:
    # A key carries 256 random bits, so a fast hash is enough: nobody can guess it from the hash,
    # and the gateway looks keys up on every request.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(project, user, name: str = "") -> tuple[ApiKey, str]:
    """Return the row and the whole key, which is never stored and never shown again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=raw[: len(KEY_PREFIX) + SHOWN_CHARS],
        key_hash=hash_key(raw),
        created_by=user,
    )
    return key, raw


def rotate_key(old: ApiKey, user, grace: timedelta) -> tuple[ApiKey, str]:
    """A new key now; the old one keeps working for ``grace`` (zero: it stops at once)."""
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=old.pk)
        new, raw = create_key(old.project, user, old.name)
        old.replaced_by = new
        now = timezone.now()
        if grace.total_seconds() <= 0:
            old.revoked_at = now
        else:
            old.expires_at = now + grace
        old.save(update_fields=["replaced_by", "revoked_at", "expires_at"])
    return new, raw


def revoke_key(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def key_state(key: ApiKey, now=None) -> str:
    now = now or timezone.now()
    if key.revoked_at:
        return "revoked"
    if key.expires_at and key.expires_at <= now:
        return "expired"
    if key.expires_at:
        return "rotating"
    return "active"
