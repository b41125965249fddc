"""The CPU inference server's command: `transformers serve`, continuous batching on, its cache
sized to a memory budget.

Continuous batching is what lets concurrent callers share the model's forward passes (several
times the tokens/s of one-at-a-time generation at 8 and 32 callers, bench/bench_serving.py).
transformers sizes its cache as a fraction of the machine's RAM, 0.9 by default on CPU: 9.9 GB
resident for the 135M bundled model on a 24 GB machine, room the training worker needs. Here a
budget in GB (``INFERENCE_KV_CACHE_GB``; 0 turns continuous batching off) becomes that fraction
of this machine's RAM.

The server runs under a supervisor (``supervisor.py``), which starts it again when it dies or
stops answering, with the models it had loaded; this process is that supervisor.

    python -m workers.serving.cpu_server --port 8100     (the Procfile's `inference` process)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

from .supervisor import local_url, supervise

DEFAULT_KV_CACHE_GB = 1.0
# Tokens per forward step (transformers' default is 8192). Its buffers come out of the budget
# before the cache does. 256 keeps each step short, so a long prompt is read in small chunks
# between the other callers' tokens (chunked prefill); 32 callers' short prompts still take a
# few steps.
MAX_BATCH_TOKENS = 256
MODEL_TIMEOUT_S = 3600  # an idle model is unloaded after an hour


def model_timeout_from_env() -> int:
    """Seconds an idle model stays loaded (``INFERENCE_MODEL_TIMEOUT_S``): each loaded model is
    a process of its own (about 1.3 GB for the bundled one with its cache), so a machine that
    loads many versions, like the test suite, lets them go sooner."""
    raw = os.environ.get("INFERENCE_MODEL_TIMEOUT_S", "").strip()
    if not raw:
        return MODEL_TIMEOUT_S
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"INFERENCE_MODEL_TIMEOUT_S must be a number of seconds, not {raw!r}")
    return int(raw)


def total_memory_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def kv_cache_gb_from_env() -> float:
    raw = os.environ.get("INFERENCE_KV_CACHE_GB", "").strip()
    if not raw:
        return DEFAULT_KV_CACHE_GB
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"INFERENCE_KV_CACHE_GB must be a number of GB, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise SystemExit(
            f"INFERENCE_KV_CACHE_GB must be 0 (off) or a positive size in GB, not {raw!r}"
        )
    return value


def batching_flags(kv_cache_gb: float, total_bytes: int) -> list[str]:
    """transformers serve's flags for continuous batching within ``kv_cache_gb``."""
    if kv_cache_gb <= 0:
        return ["--no-continuous-batching"]
    fraction = min(0.9, kv_cache_gb * 2**30 / total_bytes)
    return [
        "--continuous-batching",
        "--cb-max-memory-percent",
        f"{fraction:.6f}",
        "--cb-max-batch-tokens",
        str(MAX_BATCH_TOKENS),
    ]


def serve_command(
    port: int,
    *,
    host: str = "127.0.0.1",
    kv_cache_gb: float = DEFAULT_KV_CACHE_GB,
    total_bytes: int | None = None,
    executable: str | None = None,
) -> list[str]:
    executable = executable or str(Path(sys.executable).parent / "transformers")
    if not Path(executable).exists():
        executable = shutil.which("transformers") or "transformers"
    return [
        executable,
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--device",
        "cpu",
        "--model-timeout",
        str(model_timeout_from_env()),
        *batching_flags(kv_cache_gb, total_bytes or total_memory_bytes()),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Start the CPU inference server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("INFERENCE_PORT", 8100)))
    args, extra = parser.parse_known_args(argv)  # the rest goes to transformers serve
    command = serve_command(args.port, host=args.host, kv_cache_gb=kv_cache_gb_from_env())
    command += extra
    sys.exit(supervise(command, local_url(args.host, args.port)))


if __name__ == "__main__":
    main()
