"""Run in child processes by the rate-limit test: one web process's share of a burst."""

from __future__ import annotations

import asyncio


def burst(args) -> int:
    """How many of ``calls`` concurrent requests the limiter let through."""
    key_id, calls, rpm, now = args
    import django

    django.setup()
    from apps.endpoints import ratelimit

    async def run():
        verdicts = await asyncio.gather(
            *(ratelimit.check(key_id, rpm, 10**9, now=now) for _ in range(calls))
        )
        return sum(v.allowed for v in verdicts)

    return asyncio.run(run())
