"""Keeps the CPU inference server up: runs `transformers serve` as a child, starts it again
when it dies or stops answering, and loads the models it had loaded.

Without it, one failure took serving down for good: the continuous-batching loop raised ("No
requests can be scheduled and no requests can be offloaded"), /health answered 503 and every
call got a 502 until someone restarted the process by hand.

What restarts the server (``decide``): the child exiting; /health answering 503 for a dead
engine (at once: transformers never recovers from it); any other failed check
``FAILURES_BEFORE_RESTART`` times in a row (a slow answer under load is not a dead server). A
restart waits longer each time the server fails again before staying up ``STABLE_AFTER_S``
(``restart_delay_s``), so a server that cannot start does not spin.

The models come back: while the server is healthy the supervisor reads which models it has
loaded (/v1/models), and after a restart it asks for each again (``POST /load_model``) before
it counts the server as up. Callers in the meantime get a refused connection, which the
gateway answers at once with a 502.

No Django here: this runs before settings exist.

    python -m workers.serving.supervisor http://127.0.0.1:8100 -- transformers serve ...
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .server import ServerError, load_model

log = logging.getLogger("vibeflow.inference")

DEFAULT_HEALTH_INTERVAL_S = 5.0
FAILURES_BEFORE_RESTART = 3
HEALTH_TIMEOUT_S = 5.0
STARTUP_TIMEOUT_S = 180.0  # importing torch on a busy two-core machine takes a while
STARTUP_POLL_S = 0.25
# Less than honcho's 5 s between its SIGTERM and its SIGKILL (`./vibeflow run`), so the server
# is stopped here, in order, before honcho kills the supervisor.
STOP_GRACE_S = 4.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
STABLE_AFTER_S = 60.0  # up this long, the server's next failure restarts it without waiting
LOAD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Check:
    """One /health check: its status (None: no answer, connection refused or timed out) and
    what it said."""

    status: int | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def engine_dead(self) -> bool:
        # transformers 5.25 says `"reason": "engine_dead"`; others said `cb_worker_dead`.
        return self.status == 503 and "dead" in self.detail


def decide(check: Check, failures: int, limit: int = FAILURES_BEFORE_RESTART) -> tuple[int, str]:
    """The failed checks in a row after ``check``, and why to restart now ("" to keep on)."""
    if check.ok:
        return 0, ""
    failures += 1
    said = f"{check.status}: {check.detail}" if check.status else check.detail
    if check.engine_dead:
        return failures, f"/health answered {said}"
    if failures >= limit:
        return failures, f"/health failed {failures} times in a row ({said})"
    return failures, ""


def restart_delay_s(
    quick_restarts: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S
) -> float:
    """How long to wait before a start, ``quick_restarts`` being how many times in a row the
    server failed before staying up: the first restart is immediate, then 1, 2, 4... s."""
    if quick_restarts <= 1:
        return 0.0
    return min(cap, base * 2 ** (quick_restarts - 2))


def loaded_models(listing: dict) -> list[str]:
    """The models a /v1/models answer says are in memory (the Hub cache's are listed too)."""
    return [
        model["id"]
        for model in listing.get("data") or []
        if (model.get("status") or {}).get("value") == "loaded"
    ]


def health_interval_from_env() -> float:
    raw = os.environ.get("INFERENCE_HEALTH_INTERVAL_S", "").strip()
    if not raw:
        return DEFAULT_HEALTH_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SystemExit(
            f"INFERENCE_HEALTH_INTERVAL_S must be a positive number of seconds, not {raw!r}"
        )
    return value


def check_health(url: str, timeout: float = HEALTH_TIMEOUT_S) -> Check:
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return Check(None, f"no answer: {type(exc).__name__}")
    return Check(response.status_code, response.text[:200].strip())


# Stopping. A stop signal raises `_Stop` only while the supervisor waits (a sleep, an HTTP
# call): raised while it started or stopped the server, it could lose the child it just made.
# Elsewhere it is noted, and the next wait raises it.
class _Stop(Exception):
    pass


class _StopSignal:
    received = 0
    waiting = False


def _on_stop_signal(signum: int, frame: object) -> None:
    _StopSignal.received = signum
    if _StopSignal.waiting:
        raise _Stop


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    if _StopSignal.received:
        raise _Stop
    _StopSignal.waiting = True
    try:
        yield
    finally:
        _StopSignal.waiting = False


def _die_with_parent() -> object:
    """What the child runs before exec: asks Linux to kill it if the supervisor dies (the OOM
    killer, honcho's SIGKILL), instead of leaving it holding the port and its models' memory
    with nobody to restart it. Made in the parent: the child may only call what is loaded."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def in_child() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the supervisor died before the line above
            os._exit(1)

    return in_child


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie does not count: it has stopped, and
    the init that adopted it can take seconds to read its exit (``killpg(pgid, 0)`` still finds
    it, so waiting on that waited out the whole grace at each restart)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:  # "pid (name) state ppid pgrp ...": the name may hold spaces and parentheses
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if group == str(pgid) and state != "Z":
            return True
    return False


def stop_child(child: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """Stops the server and everything it started, and waits for them.

    1. SIGTERM to the server alone: it stops its models' processes itself, and its resource
       tracker (which ignores SIGTERM) then removes their semaphores.
    2. Waits, up to ``grace``, for the server and then for the rest of its process group.
    3. SIGKILL to the whole group for whatever is left, and waits for it to go.
    """
    deadline = time.monotonic() + grace
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(max(0.0, deadline - time.monotonic()))
    while _group_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 2  # orphans of the group are reaped by init
    while _group_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


class Supervisor:
    def __init__(self, command: list[str], url: str, *, interval: float) -> None:
        self.command, self.url, self.interval = command, url, interval
        self.models: list[str] = []  # loaded at the last look, loaded again after a restart
        self.child: subprocess.Popen | None = None
        self.before_exec = _die_with_parent()

    def run(self) -> None:
        """Starts the server, and again each time ``watch`` gives a reason, until stopped."""
        quick_restarts = 0
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(
                self.command,
                process_group=0,  # the server and its models' processes, stopped as one
                preexec_fn=self.before_exec,
            )
            up_since, reason = self.watch(self.child, started)
            pid = self.child.pid
            stop_child(self.child)
            self.child = None
            stayed_up = up_since is not None and time.monotonic() - up_since >= STABLE_AFTER_S
            quick_restarts = 1 if stayed_up else quick_restarts + 1
            delay = restart_delay_s(quick_restarts)
            wait = f"; starting again in {delay:.0f} s" if delay else ""
            log.error("restarting the inference server (pid %d): %s%s", pid, reason, wait)
            with _interruptible():
                time.sleep(delay)

    def watch(self, child: subprocess.Popen, started: float) -> tuple[float | None, str]:
        """Waits for the server to answer, loads its models again, then checks it every
        ``interval`` seconds. Returns when it came up (None: never) and why to restart it."""
        while not self._check().ok:
            if child.poll() is not None:
                return None, f"it exited with code {child.returncode} while starting"
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                return None, f"/health did not answer within {STARTUP_TIMEOUT_S:.0f} s of its start"
            self._sleep(child, STARTUP_POLL_S)
        self._load_models_again()
        up_since = time.monotonic()
        again = f", {len(self.models)} model(s) loaded again" if self.models else ""
        log.info(
            "inference server (pid %d) up %.1f s after its start%s",
            child.pid,
            up_since - started,
            again,
        )
        failures = 0
        while True:
            self._sleep(child, self.interval)
            if child.poll() is not None:
                return up_since, f"it exited with code {child.returncode}"
            failures, reason = decide(self._check(), failures)
            if reason:
                return up_since, reason
            if not failures:
                self._remember_models()

    def _check(self) -> Check:
        with _interruptible():
            return check_health(self.url)

    def _sleep(self, child: subprocess.Popen, seconds: float) -> None:
        """Sleeps, woken early if the child exits (its pidfd becomes readable)."""
        with _interruptible():
            try:
                fd = os.pidfd_open(child.pid)
            except (AttributeError, OSError):  # no pidfd here (not Linux, an old kernel)
                time.sleep(seconds)
                return
            try:
                select.select([fd], [], [], seconds)
            finally:
                os.close(fd)

    def _remember_models(self) -> None:
        try:
            with _interruptible():
                response = httpx.get(f"{self.url}/v1/models", timeout=HEALTH_TIMEOUT_S)
            if response.status_code == 200:
                self.models = loaded_models(response.json())
        except (httpx.HTTPError, ValueError):
            pass  # keep what was known: a slow listing is not a reason to forget

    def _load_models_again(self) -> None:
        kept = []
        for model in self.models:
            try:
                with _interruptible():
                    load_model(self.url, model, timeout=LOAD_TIMEOUT_S)
            except ServerError as exc:
                if isinstance(exc.__cause__, httpx.HTTPError):
                    kept.append(model)  # the server failed, not the model: the next start tries
                    log.error("loading %s again failed: %s", model, exc)
                else:  # refused, e.g. a deleted version's folder: not asked for again
                    log.error("not loading %s again: %s", model, exc)
                continue
            kept.append(model)
        self.models = kept


def supervise(command: list[str], url: str, *, interval: float | None = None) -> int:
    """Runs ``command`` (a server answering /health at ``url``) until SIGTERM or SIGINT, then
    stops it and everything it started. Returns the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, format="inference supervisor: %(message)s")
    log.setLevel(logging.INFO)  # not the root logger: httpx logs each health check at INFO
    supervisor = Supervisor(
        command, url, interval=health_interval_from_env() if interval is None else interval
    )
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _on_stop_signal)
    try:
        supervisor.run()
    except _Stop:
        pass
    finally:
        if supervisor.child is not None:
            stop_child(supervisor.child)
    return 0


def local_url(host: str, port: int) -> str:
    """Where the supervisor reaches a server listening on ``host``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


if __name__ == "__main__":
    url, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit("usage: python -m workers.serving.supervisor URL -- COMMAND...")
    sys.exit(supervise(command, url))
