"""The gateway's HTTP client to inference servers: one aiohttp session per event loop.

aiohttp rather than httpx: on this path every request pays the client's own overhead, and
measured against the same local server (bench/bench_upstream_client.py) httpx's AsyncClient
costs about four times aiohttp's per kept-alive request.

A session belongs to the loop that made it. Daphne runs one loop for the life of the
process; Django's test client and asyncio.run make a loop per call and close it after.
Each session is therefore tied to an async generator started on its loop: loops close
their generators before they close (``shutdown_asyncgens``), which closes the session and
forgets it, so no socket or loop outlives its loop.
"""

from __future__ import annotations

import asyncio

import aiohttp

MAX_CONNECTIONS = 256

_sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, object]] = {}


async def _closed_with_loop(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession):
    try:
        yield
    finally:
        _sessions.pop(loop, None)
        await session.close()


async def session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    held = _sessions.get(loop)
    if held is None:
        client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS))
        keeper = _closed_with_loop(loop, client)
        await keeper.__anext__()  # registers it with the loop's shutdown_asyncgens
        held = _sessions[loop] = (client, keeper)
    return held[0]


def timeout(seconds: float) -> aiohttp.ClientTimeout:
    """The endpoint's timeout, as httpx applied it: to connecting and to each wait for
    bytes, so a stream that keeps sending may run longer than it."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.TimeoutError)


# What a failed exchange with the server raises: connection and protocol errors, timeouts
# (aiohttp raises asyncio's TimeoutError for them), and ValueError for an SSE line longer
# than the stream reader's limit.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)
