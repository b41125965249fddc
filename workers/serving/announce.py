"""Tell VibeFlow an inference server is up, so deployments can be placed on it (a GPU node runs
this after starting `vllm serve`). No Django: it runs on the node.

    VIBEFLOW_URL=https://vibeflow.example SERVER_ANNOUNCE_TOKEN=... \\
        python -m workers.serving.announce http://10.0.0.7:8100 --kind vllm \\
        --base-model Qwen/Qwen2.5-7B-Instruct --capacity 4

It waits for the server's /health first (loading a 7B model takes minutes), then announces it,
trying again a few times if VibeFlow itself is restarting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import httpx

from .server import ServerError, wait_for_server


def announce(vibeflow_url: str, token: str, server: dict, attempts: int = 5) -> dict:
    last = ""
    for attempt in range(attempts):
        try:
            response = httpx.post(
                f"{vibeflow_url.rstrip('/')}/internal/servers/announce",
                json=server,
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            last = str(exc)
        else:
            if response.status_code == 200:
                return response.json()
            if response.status_code < 500:  # refused: trying again will not help
                raise ServerError(f"VibeFlow refused ({response.status_code}): {response.text}")
            last = f"{response.status_code}: {response.text[:200]}"
        time.sleep(min(2**attempt, 30))
    raise ServerError(f"VibeFlow did not take the announcement: {last}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the server's address as VibeFlow's gateway reaches it")
    parser.add_argument("--kind", choices=["vllm", "cpu"], default="vllm")
    parser.add_argument("--name", default="")
    parser.add_argument("--base-model", default="", help="the model vLLM was started with")
    parser.add_argument("--capacity", type=int, default=4, help="vLLM's --max-loras")
    parser.add_argument("--slots", type=int, default=64, help="calls it runs at once")
    parser.add_argument("--wait", type=float, default=1800.0, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    vibeflow_url, token = os.environ.get("VIBEFLOW_URL"), os.environ.get("SERVER_ANNOUNCE_TOKEN")
    if not vibeflow_url or not token:
        print("Set VIBEFLOW_URL and SERVER_ANNOUNCE_TOKEN.", file=sys.stderr)
        return 2
    try:
        wait_for_server(args.url, args.wait)
        answer = announce(
            vibeflow_url,
            token,
            {
                "url": args.url,
                "kind": args.kind,
                "name": args.name,
                "base_model": args.base_model,
                "capacity": args.capacity,
                "slots": args.slots,
            },
        )
    except ServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Announced {args.url} as {answer['name']} ({answer['state']}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
