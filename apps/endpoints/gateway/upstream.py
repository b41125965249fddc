"""The gateway's HTTP client to inference servers: one aiohttp session per event loop.

aiohttp rather than httpx: on this path every request pays the client's own overhead, and
measured against the same local server (bench/bench_upstream_client.py) httpx's AsyncClient
costs about five times aiohttp's per kept-alive request.

One session per event loop, closed with its loop (``vibeflow_site.loop_local``).
"""

from __future__ import annotations

import asyncio

import aiohttp
import aiohttp.http_exceptions

from vibeflow_site.loop_local import loop_local

MAX_CONNECTIONS = 256


def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS))


async def _close(client: aiohttp.ClientSession) -> None:
    await client.close()


async def session() -> aiohttp.ClientSession:
    return await loop_local("gateway-upstream", _new_session, _close)


def timeout(seconds: float) -> aiohttp.ClientTimeout:
    """The endpoint's timeout, as httpx applied it: to waiting for a pooled connection, to
    connecting and to each wait for bytes, so a stream that keeps sending may run longer
    than it. (``connect`` is what bounds the wait for a free slot when all are busy.)"""
    return aiohttp.ClientTimeout(
        total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.TimeoutError)


# What a failed exchange with the server raises: connection and protocol errors, timeouts
# (aiohttp raises asyncio's TimeoutError for them), an unparsable answer or an SSE line over
# the reader's limit (http_exceptions, outside ClientError), and ValueError for bytes that
# are not UTF-8 or JSON.
TRANSPORT_ERRORS = (
    aiohttp.ClientError,
    aiohttp.http_exceptions.HttpProcessingError,
    asyncio.TimeoutError,
    ValueError,
)


class Unreachable(Exception):
    """The server refused or dropped the connection before answering: the call may go to another
    replica (failover.py). Timeouts are not this."""


def unreachable(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, asyncio.TimeoutError
    )
