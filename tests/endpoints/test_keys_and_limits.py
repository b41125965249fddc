"""Keys: stored as hashes, rotated with a grace period, revoked at once. Rate limits: exact
under concurrent requests from several processes sharing Redis."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.endpoints import keys, ratelimit
from apps.endpoints.models import ApiKey

from .ratelimit_burst import burst


def test_a_key_is_shown_once_and_stored_as_a_hash(project, owner):
    key, raw = keys.create_key(project, owner, "website")
    assert raw.startswith("vf_live_") and len(raw) > 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in {stored.prefix, stored.key_hash, stored.name}
    assert stored.key_hash == keys.hash_key(raw) and raw.startswith(stored.prefix)
    assert keys.key_state(stored) == "active"


def test_rotation_keeps_the_old_key_for_the_grace_period(project, owner):
    old, _ = keys.create_key(project, owner)
    new, raw = keys.rotate_key(old, owner, timedelta(hours=1))
    old.refresh_from_db()
    assert old.replaced_by == new and keys.key_state(old) == "rotating"
    assert keys.key_state(old, now=timezone.now() + timedelta(hours=1, seconds=1)) == "expired"
    assert keys.key_state(new) == "active" and new.key_hash == keys.hash_key(raw)


def test_rotation_without_grace_and_revocation_stop_the_key_now(project, owner):
    old, _ = keys.create_key(project, owner)
    keys.rotate_key(old, owner, timedelta(0))
    old.refresh_from_db()
    assert keys.key_state(old) == "revoked"
    other, _ = keys.create_key(project, owner)
    keys.revoke_key(other)
    other.refresh_from_db()
    assert keys.key_state(other) == "revoked"


def test_requests_per_minute_hold_across_processes(db):
    key_id = uuid.uuid4()
    now = time.time()
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        allowed = pool.map(burst, [(key_id, 40, 100, now)] * 4)
    assert sum(allowed) == 100  # 160 requests, exactly 100 through


async def test_tokens_per_minute_and_the_next_window():
    key_id = uuid.uuid4()
    now = 120 * 60 + 10.0  # 10 s into a minute
    assert (await ratelimit.check(key_id, 100, 50, now=now)).allowed
    await ratelimit.add_tokens(key_id, 60, now=now)
    refused = await ratelimit.check(key_id, 100, 50, now=now)
    assert (refused.allowed, refused.reason, refused.retry_after) == (False, "tokens", 50)
    assert (await ratelimit.check(key_id, 100, 50, now=now + 60)).allowed


def test_revoking_a_key_reaches_the_gateways_cached_directory(client, deployed, api_key):
    """The gateway caches key → endpoint lookups per process; a revocation (an UPDATE, no save)
    must still fail the very next request."""
    body = {
        "model": deployed.endpoint.name,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1,
    }
    post = lambda: client.post(  # noqa: E731
        "/v1/chat/completions",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert post().status_code == 200
    assert post().status_code == 200  # served from the cache
    keys.revoke_key(ApiKey.objects.get(key_hash=keys.hash_key(api_key)))
    assert post().status_code == 401


def test_a_key_made_before_any_endpoint_is_listed_where_it_can_be_revoked(
    login, owner, outsider, project
):
    """Keys belong to the project: one made before anything is deployed already works, so it
    must be on a page (the project's endpoints and keys page, linked from the project) where a
    member rotates or revokes it; another team gets 404 there."""
    client = login(owner)
    response = client.post(reverse("key_create", args=[project.pk]), {"name": "early"})
    raw = response.content.decode().split('data-testid="new-api-key">')[1].split("<")[0]
    key = ApiKey.objects.get(key_hash=keys.hash_key(raw))
    models = lambda: client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")  # noqa: E731
    assert models().status_code == 200

    keys_page = reverse("project_endpoints", args=[project.pk])
    assert keys_page in client.get(reverse("project_detail", args=[project.pk])).content.decode()
    html = client.get(keys_page).content.decode()
    assert f'data-key-prefix="{key.prefix}"' in html
    assert reverse("key_revoke", args=[key.pk]) in html
    assert reverse("key_rotate", args=[key.pk]) in html

    stranger = login(outsider)
    assert stranger.get(keys_page).status_code == 404
    assert stranger.post(reverse("key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert keys.key_state(key) == "active"

    client = login(owner)
    response = client.post(reverse("key_revoke", args=[key.pk]))
    assert response.status_code == 302 and response["Location"] == keys_page
    key.refresh_from_db()
    assert keys.key_state(key) == "revoked"
    assert models().status_code == 401
    assert "revoked" in client.get(keys_page).content.decode()
