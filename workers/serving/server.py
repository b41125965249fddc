"""Talking to an inference server (transformers serve or vLLM) over its HTTP API."""

from __future__ import annotations

import json
import time

import httpx

AGAIN = "Try again in a minute; if it keeps failing, contact your administrator."
HEALTH_FAILED = f"The model loaded but did not answer a test request. {AGAIN}"


class ServerError(Exception):
    """The inference server is unreachable or answered with an error. ``str()`` is the detail
    for operators and the log (addresses, status codes, the server's own words);
    ``user_message`` says what happened for the person deploying, and what they can do."""

    def __init__(self, detail: str, user_message: str = ""):
        super().__init__(detail)
        self.user_message = user_message or f"The model server could not load this version. {AGAIN}"


def server_alive(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_server(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_alive(url):
            return
        time.sleep(0.5)
    raise ServerError(
        f"The inference server at {url} did not answer within {timeout:.0f} s. "
        "Is its process running (the `inference` process of the Procfile)?",
        f"The model server did not answer. {AGAIN}",
    )


def load_model(url: str, model: str, timeout: float = 600.0) -> None:
    """Ask transformers serve to load a model now (it streams progress events) instead of on
    the first caller's request."""
    try:
        with httpx.stream(
            "POST", f"{url}/load_model", json={"model": model}, timeout=timeout
        ) as response:
            if response.status_code != 200:
                response.read()
                raise ServerError(
                    f"Loading the model failed ({response.status_code}): {response.text[:300]}"
                )
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("status") == "error":
                    raise ServerError(f"Loading the model failed: {event.get('message') or event}")
    except httpx.HTTPError as exc:
        raise ServerError(f"Loading the model failed: {exc}") from exc


def load_lora_adapter(url: str, name: str, path: str, timeout: float = 300.0) -> None:
    """vLLM started with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True adds an adapter at run time."""
    try:
        response = httpx.post(
            f"{url}/v1/load_lora_adapter",
            json={"lora_name": name, "lora_path": path},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise ServerError(f"Loading the adapter failed: {exc}") from exc
    if response.status_code != 200 and "already been loaded" not in response.text:
        raise ServerError(
            f"Loading the adapter failed ({response.status_code}): {response.text[:300]}"
        )


def unload_lora_adapter(url: str, name: str, timeout: float = 60.0) -> None:
    """Free an adapter's place on a vLLM server (one it no longer holds is not an error)."""
    try:
        response = httpx.post(
            f"{url}/v1/unload_lora_adapter", json={"lora_name": name}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise ServerError(f"Unloading the adapter failed: {exc}") from exc
    if response.status_code not in (200, 404):
        raise ServerError(
            f"Unloading the adapter failed ({response.status_code}): {response.text[:300]}"
        )


def health_check(url: str, model: str, timeout: float = 120.0, headers: dict | None = None) -> dict:
    """One real chat completion of a few tokens: the route goes live only if this passes.
    ``headers``: what the server wants besides (a RunPod endpoint's key)."""
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            headers=headers,
            json={
                "model": model,
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 4,
            },
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise ServerError(f"The health check request failed: {exc}", HEALTH_FAILED) from exc
    if response.status_code != 200:
        raise ServerError(
            f"The health check answered {response.status_code}: {response.text[:300]}",
            HEALTH_FAILED,
        )
    body = response.json()
    if not body.get("choices"):
        raise ServerError(f"The health check got no answer: {response.text[:300]}", HEALTH_FAILED)
    return {"latency_ms": (time.monotonic() - started) * 1000, "usage": body.get("usage") or {}}
