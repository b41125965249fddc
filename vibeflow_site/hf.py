"""What the apps that talk to the Hugging Face Hub share: the client and a fast offline check."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from django.conf import settings


def hub_reachable(timeout: float = 2.0) -> bool:
    """One TCP connect to HF_ENDPOINT's host.

    huggingface_hub retries connection errors with backoff (about 25 s in all), which is right for
    a worker but leaves a page hanging and hides the plain answer "offline"; this tells it apart
    first.
    """
    parts = urlsplit(settings.HF_ENDPOINT)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def api(token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.HF_ENDPOINT, token=token or None)


def network_errors() -> tuple[type[BaseException], ...]:
    """What the Hub client raises when the Hub can't be reached (connect, timeout, protocol):
    huggingface_hub 2 talks through httpx2."""
    import httpx2

    return (OSError, httpx2.TransportError)
