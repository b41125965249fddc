"""One definition of each VibeFlow process: the command it runs and what it adds to the environment.

The run command (scripts/stack.py), deploy/Procfile and the test suite's servers all start their
processes from here, so what the tests run is what ships. (The web process's connection pool was
once turned on by the run command alone; the tests ran without it and missed that it lost the
embedded PostgreSQL's socket folder, so every newcomer's login failed.)

    python -m vibeflow_site.processes web --port 8000 [--host H] [--proxy-headers]
    python -m vibeflow_site.processes worker [--concurrency N] [--beat]
    python -m vibeflow_site.processes gpu-worker
    python -m vibeflow_site.processes beat
    python -m vibeflow_site.processes inference --port 8100

Each replaces itself (exec) with its command under the same interpreter. No Django here: this is
imported before settings exist.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Process:
    name: str
    argv: tuple[str, ...]  # after the interpreter: ("-m", "daphne", ...)
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, python: str | None = None) -> list[str]:
        return [python or sys.executable, *self.argv]

    def command_line(self, python: str | None = None) -> str:
        """For honcho, which takes a shell line."""
        return " ".join(self.command(python))

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, **self.env}


def web(host: str = "127.0.0.1", port: int = 8000, *, proxy_headers: bool = False) -> Process:
    argv = ["-m", "daphne", "-b", host, "-p", str(port)]
    if proxy_headers:  # behind nginx: the client's address and scheme come from its headers
        argv.append("--proxy-headers")
    argv.append("vibeflow_site.asgi:application")
    # A pooled PostgreSQL connection: without it each request opens one (~4 ms), which the /v1/
    # gateway would pay on every call (settings.py, DB_POOL).
    return Process("web", tuple(argv), {"DB_POOL": "1"})


def worker(*, concurrency: int = 2, beat: bool = False) -> Process:
    """The `default` queue: analysis, e-mail, billing, deploy bookkeeping, the periodic jobs.
    Never the `gpu` queue's work, so an upload's analysis never waits behind a training run."""
    argv = ["-m", "celery", "-A", "vibeflow_site", "worker", "-Q", "default", "-n", "default@%h"]
    argv += ["--concurrency", str(concurrency), "-l", "info"]
    if beat:  # one machine, one process less: beat's schedule runs inside this worker
        argv.insert(argv.index("-Q"), "-B")
    return Process("worker", tuple(argv))


def gpu_worker() -> Process:
    """The `gpu` queue: training, evaluation, serving, one task at a time (one per GPU)."""
    argv = ["-m", "celery", "-A", "vibeflow_site", "worker", "-Q", "gpu", "-n", "gpu@%h"]
    argv += ["--concurrency", "1", "--prefetch-multiplier", "1", "-l", "info"]
    return Process("gpu-worker", tuple(argv))


def beat() -> Process:
    return Process("beat", ("-m", "celery", "-A", "vibeflow_site", "beat", "-l", "info"))


def inference(port: int = 8100, *, host: str = "127.0.0.1") -> Process:
    """The CPU inference server deployed versions load into (transformers serve, continuous
    batching within INFERENCE_KV_CACHE_GB; workers/serving/cpu_server.py), under a supervisor
    that starts it again, with its models, when it dies or stops answering (supervisor.py)."""
    argv = ("-m", "workers.serving.cpu_server", "--host", host, "--port", str(port))
    return Process("inference", argv + ("--log-level", "warning"))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m vibeflow_site.processes")
    sub = parser.add_subparsers(dest="name", required=True)
    p = sub.add_parser("web")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--proxy-headers", action="store_true")
    p = sub.add_parser("worker")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--beat", action="store_true")
    sub.add_parser("gpu-worker")
    sub.add_parser("beat")
    p = sub.add_parser("inference")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    if args.name == "web":
        process = web(args.host, args.port, proxy_headers=args.proxy_headers)
    elif args.name == "worker":
        process = worker(concurrency=args.concurrency, beat=args.beat)
    elif args.name == "gpu-worker":
        process = gpu_worker()
    elif args.name == "beat":
        process = beat()
    else:
        process = inference(args.port, host=args.host)
    command = process.command()
    os.execve(command[0], command, process.environment(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
