"""A replica's server that cannot be reached: the call goes to another replica once, and the
server is taken out of routing after several such failures in a short while.

Only a refused or dropped connection moves a call, never a timeout (a slow server is not a
dead one, and sending its calls elsewhere doubles the load), and never once the caller has had
a byte of the answer (a stream is moved only before its first event).

Each web process avoids a server it just failed to reach for ``AVOID_S`` at once; the failures
are also counted in Redis across processes, and ``GATEWAY_UNREACHABLE_BEFORE_DOWN`` of them within
``GATEWAY_UNREACHABLE_WINDOW_S`` mark the server down (``servers.mark_down``): every process's
directory drops its replicas, and the health round moves them and brings it back when it
answers.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from .. import ratelimit
from ..models import InferenceServer
from ..servers import mark_down
from .directory import Route

log = logging.getLogger("vibeflow.gateway")

AVOID_S = 5.0

_avoid: dict[str, float] = {}  # server address -> until when this process avoids it


def usable(routes) -> list[Route]:
    """The routes this process has not just failed to reach (all of them, if it failed all)."""
    now = time.monotonic()
    fresh = [r for r in routes if _avoid.get(r.url, 0.0) <= now]
    return fresh or list(routes)


def _mark_down(url: str, reason: str) -> bool:
    server = InferenceServer.objects.filter(url=url).first()
    return server is not None and mark_down(server, reason)


async def unreachable(route: Route, exc: BaseException, request_id) -> None:
    _avoid[route.url] = time.monotonic() + AVOID_S
    reason = f"the gateway could not reach it: {type(exc).__name__}: {exc}"[:300]
    log.warning(
        "inference server unreachable",
        extra={"request_id": str(request_id), "server_url": route.url, "detail": reason},
    )
    if route.replica_id is None:
        return  # a server known only by a version's address: nothing to mark
    client = await ratelimit.client()
    key = f"fl:unreachable:{route.url}"
    async with client.pipeline(transaction=True) as pipe:
        # The window starts at the first failure (SET NX; EXPIRE's NX needs Redis 7).
        pipe.set(key, 0, ex=settings.GATEWAY_UNREACHABLE_WINDOW_S, nx=True)
        pipe.incr(key)
        _, failures = await pipe.execute()
    if failures >= settings.GATEWAY_UNREACHABLE_BEFORE_DOWN:
        await sync_to_async(_mark_down)(route.url, reason)
