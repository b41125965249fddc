"""Per-key rate limits in Redis, shared by every web process.

A fixed one-minute window per key: one INCR (atomic, so concurrent requests in several
processes never both take the last slot) and a read of the tokens counted in the same window,
in one round trip through a Lua script. Tokens are added after the answer, when they are known.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings

from vibeflow_site.env import redis_url_for
from vibeflow_site.loop_local import loop_local

from .version import VERSION_KEY

WINDOW_S = 60

_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local t = tonumber(redis.call('GET', KEYS[2]) or '0')
local v = redis.call('GET', KEYS[3]) or ''

return {n, t, v}
"""


def _new_client():
    return aioredis.from_url(redis_url_for(settings.REDIS_URL, 1))


async def _close(client) -> None:
    await client.aclose()


async def client():
    """This event loop's Redis client (the cache database), shared by the gateway's counters.
    redis.asyncio clients belong to the loop that made them (tests make one per request)."""
    return await loop_local("ratelimit-redis", _new_client, _close)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # "requests" or "tokens" when refused
    limit: int = 0
    retry_after: int = 0


def _keys(key_id, window: int) -> tuple[str, str]:
    return f"rl:req:{key_id}:{window}", f"rl:tok:{key_id}:{window}"


@dataclass(frozen=True)
class Count:
    """This request counted in its window: the requests so far (this one included), the tokens
    so far, and the gateway directory's version (read in the same round trip)."""

    requests: int
    tokens: int
    version: bytes  # b"" when Redis has none (then nothing is served from the cache)
    retry_after: int

    def headers(self, rpm: int, tpm: int) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers for this window: limits, what is left, when it resets."""
        reset = f"{self.retry_after}s"
        return {
            "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(max(0, rpm - self.requests)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-limit-tokens": str(tpm),
            "x-ratelimit-remaining-tokens": str(max(0, tpm - self.tokens)),
            "x-ratelimit-reset-tokens": reset,
        }

    def verdict(self, rpm: int, tpm: int) -> Verdict:
        if self.requests > rpm:
            return Verdict(False, "requests", rpm, self.retry_after)
        if self.tokens >= tpm:
            return Verdict(False, "tokens", tpm, self.retry_after)
        return Verdict(True)


_scripts: dict[str, object] = {}


def script(client, text: str):
    """A Lua script as redis-py's Script: EVALSHA, so its text travels once per Redis server,
    not with every call. Called with any loop's client (``client=``)."""
    found = _scripts.get(text)
    if found is None:
        found = _scripts[text] = client.register_script(text)
    return found


async def count(subject, now: float | None = None) -> Count:
    now = time.time() if now is None else now
    window = int(now // WINDOW_S)
    retry_after = max(1, math.ceil((window + 1) * WINDOW_S - now))
    redis = await client()
    requests, tokens, version = await script(redis, _COUNT)(
        keys=[*_keys(subject, window), VERSION_KEY], args=[WINDOW_S + 1], client=redis
    )
    return Count(requests, tokens, version, retry_after)


async def check(subject, rpm: int, tpm: int, now: float | None = None) -> Verdict:
    return (await count(subject, now)).verdict(rpm, tpm)


async def add_tokens(key_id, tokens: int, now: float | None = None) -> None:
    if tokens <= 0:
        return
    now = time.time() if now is None else now
    _, token_key = _keys(key_id, int(now // WINDOW_S))
    async with (await client()).pipeline(transaction=False) as pipe:
        pipe.incrby(token_key, tokens)
        pipe.expire(token_key, WINDOW_S + 1)
        await pipe.execute()


_sync_client = None


def sync_client():
    """A synchronous client of the gateway's Redis database (for code outside the event loop:
    the log write after an answer, the autoscaler)."""
    global _sync_client
    if _sync_client is None:
        import redis

        _sync_client = redis.Redis.from_url(redis_url_for(settings.REDIS_URL, 1))
    return _sync_client


def add_tokens_sync(key_id, tokens: int, now: float | None = None) -> None:
    """The same count from synchronous code (the log write after an answer has gone out)."""
    if tokens <= 0:
        return
    now = time.time() if now is None else now
    _, token_key = _keys(key_id, int(now // WINDOW_S))
    with sync_client().pipeline(transaction=False) as pipe:
        pipe.incrby(token_key, tokens)
        pipe.expire(token_key, WINDOW_S + 1)
        pipe.execute()
