"""The gateway's upstream client on its own: httpx's AsyncClient against aiohttp's
ClientSession, each posting a small chat request to the same local HTTP/1.1 server over a
kept-alive connection, in alternating rounds so drift hits both. Prints microseconds per
request (client and server together; the server is a few lines of asyncio) and the ratio.

    .venv/bin/python bench/bench_upstream_client.py [--requests 500] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
import httpx

ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main(requests: int, rounds: int) -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    async with (
        httpx.AsyncClient(limits=httpx.Limits(max_connections=256)) as hx,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as ah,
    ):
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)

        async def with_httpx():
            response = await hx.post(url, json=REQUEST, timeout=30)
            return response.json()

        async def with_aiohttp():
            async with ah.post(url, json=REQUEST, timeout=timeout) as response:
                return await response.json()

        clients = {"httpx": with_httpx, "aiohttp": with_aiohttp}
        per_request: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(rounds):
            for name, call in clients.items():
                for _ in range(requests // 10):  # warm-up: connection made, code paths hot
                    await call()
                started = time.perf_counter()
                for _ in range(requests):
                    await call()
                per_request[name].append((time.perf_counter() - started) / requests * 1e6)
    await asyncio.sleep(0.2)  # the handlers see the clients' EOF and end before the server
    server.close()
    await server.wait_closed()
    medians = {name: statistics.median(values) for name, values in per_request.items()}
    for name, values in per_request.items():
        rounds_text = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:8} median {medians[name]:6.0f} us/request (rounds: {rounds_text})")
    print(f"httpx / aiohttp: {medians['httpx'] / medians['aiohttp']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
