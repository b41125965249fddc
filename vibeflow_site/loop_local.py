"""Async clients that belong to the event loop that made them, closed when that loop ends.

An aiohttp session or a redis.asyncio client is bound to one loop. Daphne runs one loop for
the life of the process; Django's test client and asyncio.run make a loop per call and close
it after. Each client made here is tied to an async generator started on its loop: a loop
closes its generators before it closes (``shutdown_asyncgens``, which asyncio.run, asyncio's
Runner and asgiref's async_to_sync all call), and the generator's ``finally`` closes the
client and forgets it, so no socket, and no loop through its client, outlives its loop.
(A loop closed without ``shutdown_asyncgens`` would keep its clients: none of those runs here.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

_held: dict[tuple[asyncio.AbstractEventLoop, str], tuple[Any, object]] = {}


async def _closed_with_loop(key, client, close: Callable[[Any], Awaitable[None]]):
    try:
        yield
    finally:
        _held.pop(key, None)
        await close(client)


async def loop_local(
    name: str, make: Callable[[], Any], close: Callable[[Any], Awaitable[None]]
) -> Any:
    """The running loop's client called ``name``, made by ``make()`` on first use."""
    key = (asyncio.get_running_loop(), name)
    held = _held.get(key)
    if held is None:
        client = make()
        keeper = _closed_with_loop(key, client, close)
        await keeper.__anext__()  # from here the loop's shutdown_asyncgens will close it
        held = _held[key] = (client, keeper)
    return held[0]


def open_clients() -> list[str]:
    """The names of the clients still open, on any loop (for tests)."""
    return sorted(name for _, name in _held)
