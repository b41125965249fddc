"""The inference server's supervisor: when it restarts the server, how long it waits, the models
it loads again, and that stopping it leaves nothing running.

The loop runs against a stand-in server (tests/fakes/transformers_serve.py), steered through
files; tests/endpoints/test_supervised_inference.py kills the real one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import _free_port
from workers.serving import cpu_server, supervisor
from workers.serving.supervisor import (
    Check,
    decide,
    health_interval_from_env,
    loaded_models,
    local_url,
    restart_delay_s,
)

ROOT = Path(__file__).resolve().parents[2]
DEAD = Check(503, '{"status":"unhealthy","reason":"engine_dead"}')


def test_a_healthy_check_clears_the_failures():
    assert decide(Check(200, "ok"), failures=2) == (0, "")


def test_it_restarts_after_three_failed_checks_in_a_row_not_one():
    refused = Check(None, "no answer: ConnectError")
    failures, reason = decide(refused, 0)
    assert (failures, reason) == (1, "")
    failures, reason = decide(Check(500, "Internal Server Error"), failures)
    assert (failures, reason) == (2, "")
    failures, reason = decide(refused, failures)
    assert failures == 3 and reason == "/health failed 3 times in a row (no answer: ConnectError)"


@pytest.mark.parametrize("reason", ["engine_dead", "cb_worker_dead"])
def test_a_dead_engine_restarts_at_once(reason):
    check = Check(503, f'{{"status":"unhealthy","reason":"{reason}"}}')
    failures, said = decide(check, 0)
    assert failures == 1 and said.startswith("/health answered 503: ") and reason in said


def test_a_503_that_is_not_a_dead_engine_counts_like_any_failure():
    assert decide(Check(503, "Service Unavailable"), 0) == (1, "")


def test_restarts_back_off_up_to_a_cap():
    delays = [restart_delay_s(n) for n in range(1, 10)]
    assert delays[:5] == [0, 1, 2, 4, 8]  # the first restart is immediate
    assert max(delays) == supervisor.BACKOFF_CAP_S == delays[-1]


def test_only_the_models_in_memory_are_remembered():
    listing = {
        "object": "list",
        "data": [
            {"id": "HuggingFaceTB/SmolLM2-135M", "status": {"value": "unloaded"}},
            {"id": "/srv/var/serving/runs/7/v1", "status": {"value": "loaded"}},
            {"id": "no-status"},
        ],
    }
    assert loaded_models(listing) == ["/srv/var/serving/runs/7/v1"]
    assert loaded_models({}) == []


@pytest.mark.parametrize(("raw", "expected"), [("", 5.0), ("2", 2.0), (" 0.5 ", 0.5)])
def test_the_health_interval_comes_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("INFERENCE_HEALTH_INTERVAL_S", raw)
    assert health_interval_from_env() == expected


@pytest.mark.parametrize("raw", ["often", "0", "-5", "nan", "inf"])
def test_a_bad_health_interval_stops_with_a_sentence(monkeypatch, raw):
    monkeypatch.setenv("INFERENCE_HEALTH_INTERVAL_S", raw)
    with pytest.raises(SystemExit, match="INFERENCE_HEALTH_INTERVAL_S"):
        health_interval_from_env()


def test_the_supervisor_reaches_the_server_where_it_listens():
    assert local_url("127.0.0.1", 8100) == "http://127.0.0.1:8100"
    assert local_url("0.0.0.0", 8100) == "http://127.0.0.1:8100"
    assert local_url("::", 8100) == "http://[::1]:8100"


def test_the_cpu_server_runs_transformers_serve_under_the_supervisor(monkeypatch):
    given = {}

    def supervise(command, url):
        given.update(command=command, url=url)
        return 0

    monkeypatch.setattr(cpu_server, "supervise", supervise)
    with pytest.raises(SystemExit) as exited:
        cpu_server.main(["--port", "8123", "--log-level", "warning"])
    assert exited.value.code == 0
    assert given["url"] == "http://127.0.0.1:8123"
    assert given["command"][1] == "serve" and given["command"][-2:] == ["--log-level", "warning"]


# The loop, against the stand-in server.


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent has not read its exit yet


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


class Stack:
    """A supervisor (its own process) over the stand-in server, checking every 0.2 s."""

    def __init__(self, tmp_path: Path):
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.log = tmp_path / "supervisor.log"
        self.url = f"http://127.0.0.1:{_free_port()}"
        server = [sys.executable, "-m", "tests.fakes.transformers_serve"]
        server += [self.url.rsplit(":", 1)[1], str(self.state)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.serving.supervisor", self.url, "--", *server],
                cwd=ROOT,
                env={**os.environ, "INFERENCE_HEALTH_INTERVAL_S": "0.2"},
                stderr=log,
            )

    def read(self, name: str) -> str:
        path = self.state / name
        return path.read_text() if path.exists() else ""

    def starts(self) -> list[tuple[int, int]]:
        """(server pid, model process pid) of each start."""
        return [
            tuple(int(pid) for pid in line.split()) for line in self.read("starts").splitlines()
        ]

    def loads(self) -> list[tuple[int, str]]:
        return [(int(pid), model) for pid, model in map(str.split, self.read("loads").splitlines())]

    def up(self, count: int) -> tuple[int, int]:
        """Waits for the ``count``-th start to be reported up; its pids."""

        def reported() -> bool:
            return self.log.read_text().count(") up ") >= count

        _wait_for(reported, 20, f"start {count} of the server")
        return self.starts()[count - 1]

    def restarts(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if "restarting" in line]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(supervisor.STOP_GRACE_S + 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.stop()
        for pids in stack.starts():
            for pid in pids:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def test_it_restarts_a_server_that_exits(stack):
    server, model = stack.up(1)
    os.kill(server, signal.SIGKILL)
    new_server, _ = stack.up(2)
    assert new_server != server and not _alive(model)
    assert stack.restarts() == [
        f"inference supervisor: restarting the inference server (pid {server}): "
        "it exited with code -9"
    ]


def test_it_restarts_a_server_whose_engine_is_dead(stack):
    server, model = stack.up(1)
    (stack.state / "health").write_text("dead")
    stack.up(2)
    assert not _alive(server) and not _alive(model)
    [line] = stack.restarts()
    assert f"(pid {server}): /health answered 503: " in line and "cb_worker_dead" in line


def test_it_restarts_a_server_that_keeps_failing_its_checks(stack):
    server, _ = stack.up(1)
    (stack.state / "health").write_text("500")
    stack.up(2)
    [line] = stack.restarts()
    assert line.endswith("/health failed 3 times in a row (500: Internal Server Error)")


def test_the_models_it_had_loaded_are_loaded_again_and_a_deleted_one_is_forgotten(stack, tmp_path):
    import httpx

    kept, deleted = tmp_path / "runs" / "7", tmp_path / "runs" / "8"
    kept.mkdir(parents=True)
    deleted.mkdir()
    server, _ = stack.up(1)
    for folder in (kept, deleted):
        httpx.post(f"{stack.url}/load_model", json={"model": str(folder)}).raise_for_status()
    # The supervisor reads /v1/models after each healthy check.
    _wait_for(lambda: "2" in stack.read("listings").split(), 10, "a listing with both")
    deleted.rmdir()  # its version was deleted (vibeflow_site/disk.py)
    os.kill(server, signal.SIGKILL)
    second, _ = stack.up(2)
    assert [model for pid, model in stack.loads() if pid == second] == [str(kept), str(deleted)]
    assert "1 model(s) loaded again" in stack.log.read_text()
    assert f"not loading {deleted} again" in stack.log.read_text()

    os.kill(second, signal.SIGKILL)
    third, _ = stack.up(3)
    assert [model for pid, model in stack.loads() if pid == third] == [str(kept)]


def test_a_server_that_keeps_failing_is_restarted_later_each_time(stack):
    server, _ = stack.up(1)
    for count in (2, 3):
        os.kill(server, signal.SIGKILL)
        server, _ = stack.up(count)
    first, second = stack.restarts()
    assert not first.endswith(" s") and second.endswith("; starting again in 1 s")


def test_sigterm_stops_the_server_and_what_it_started(stack):
    server, model = stack.up(1)
    started = time.monotonic()
    assert stack.stop() == 0
    assert time.monotonic() - started < 3
    assert not _alive(server) and not _alive(model)


def test_a_server_that_ignores_sigterm_is_killed_with_its_group(stack):
    (stack.state / "ignore-term").touch()
    server, _ = stack.up(1)
    os.kill(server, signal.SIGKILL)  # the next start reads ignore-term
    server, model = stack.up(2)
    assert stack.stop() == 0
    assert not _alive(server) and not _alive(model)


def test_the_server_dies_with_a_killed_supervisor(stack):
    server, model = stack.up(1)
    stack.process.kill()
    stack.process.wait()
    _wait_for(lambda: not _alive(server) and not _alive(model), 5, "the server to go")
