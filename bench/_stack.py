"""What the benchmarks need before they start, shared by all of them.

``django_stack()`` readies Django for a benchmark that uses the site, its database or Redis:
when DATABASE_URL / REDIS_URL are unset it starts the embedded PostgreSQL and redis-server the
run command uses (scripts/stack.py's ``Services``, not a copy of it) in a data folder of the
benchmarks' own, var/bench/ (VIBEFLOW_BENCH_DIR to move it), so a running ``./vibeflow run``
(var/services) or ``./vibeflow test`` (var/test) is left alone; then applies the migrations,
calls ``django.setup()`` and, at the end, stops what it started.

    with django_stack():
        from apps.accounts.models import User
        ...

``require_cuda()`` ends a GPU benchmark at once, with a sentence, on a machine without CUDA.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(os.environ.get("VIBEFLOW_BENCH_DIR", ROOT / "var" / "bench")).resolve()
DATABASE = "vibeflow_bench"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _stack_module():
    """scripts/stack.py, loaded by its path (scripts/ is not a package)."""
    name = "_vibeflow_stack"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "stack.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """TERM ends the benchmark like Ctrl-C does: through the ``finally`` that stops the services."""
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def django_stack() -> Iterator[dict[str, str]]:
    """Django set up against a migrated database and a Redis; yields what it added to the
    environment (empty when DATABASE_URL and REDIS_URL were both given)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibeflow_site.settings")
    os.environ.setdefault("DEBUG", "1")
    added: dict[str, str] = {}
    Services = _stack_module().Services
    with exit_on_sigterm(), Services(BENCH_DIR / "services", database=DATABASE) as service_env:
        added.update(service_env)
        if "DATABASE_URL" in service_env:
            # A database of its own, so files of its own too (uploads, the secret key); the
            # converted bundled model is shared with the run and test commands, as they share it.
            for key, value in (
                ("VIBEFLOW_DATA_DIR", str(BENCH_DIR / "data")),
                ("VIBEFLOW_MODEL_CACHE", str(ROOT / "var" / "models")),
            ):
                if not os.environ.get(key):
                    added[key] = value
        saved = {key: os.environ.get(key) for key in added}
        os.environ.update(added)  # the benchmarks' child processes (Daphne, ...) inherit it
        try:
            import django

            django.setup()
            from django.core.management import call_command

            log("applying database migrations")
            call_command("migrate", interactive=False, verbosity=0)
            try:
                yield added
            finally:
                from django.db import connections

                connections.close_all()  # before the server they point at stops
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def gpu_driver_present() -> bool:
    """An NVIDIA driver, or ROCm's (which torch also reports as CUDA), is installed here."""
    return (
        Path("/proc/driver/nvidia").exists()
        or any(Path("/dev").glob("nvidia[0-9]*"))
        or Path("/dev/kfd").exists()
    )


def require_cuda() -> None:
    """Exits with a sentence when no CUDA device is usable (after --help, which always works)."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        return
    name = Path(sys.argv[0]).name
    advice = "this benchmark is for GPU nodes; the README's Benchmarks section lists the CPU ones."
    # No GPU driver at all: say so without the seconds an import of torch takes.
    if not gpu_driver_present():
        sys.exit(f"{name}: no CUDA GPU here (no GPU driver on this machine); {advice}")
    import torch

    if not torch.cuda.is_available():
        sys.exit(f"{name}: no CUDA GPU here (torch {torch.__version__} sees none); {advice}")
