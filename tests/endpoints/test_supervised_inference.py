"""The inference server comes back by itself: `transformers serve` killed, or its model's process
killed under it (a dead batching loop: /health answers 503), is started again by its supervisor
(workers/serving/supervisor.py) with the deployment loaded, and the gateway answers again; calls
meanwhile fail fast and none hangs. Stopping the supervisor leaves nothing running.

Each test has a supervised server of its own (the session's shared one serves other tests),
checked every second."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apps.endpoints import monitoring
from apps.endpoints.models import Endpoint, RequestLog
from tests.e2e.conftest import OUTPUT, ROOT, _free_port, wait_for
from vibeflow_site import processes
from workers.serving import load_model

from .conftest import bearer

BACK_WITHIN_S = 60


def _stat(pid: int) -> list[str]:
    """State, ppid, ... of a process ([] if gone); the name may hold spaces and parentheses."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return []


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[0] != "Z"  # a zombie has stopped


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat and stat[0] != "Z" and stat[1] == str(pid):
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    children = _children(pid)
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


class Supervised:
    """`python -m vibeflow_site.processes inference`, as shipped, on a port of its own."""

    def __init__(self, log: Path):
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.log = log
        server = processes.inference(int(self.url.rsplit(":", 1)[1]))
        env = {**server.environment(os.environ), "INFERENCE_HEALTH_INTERVAL_S": "1"}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                server.command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def server_pid(self) -> int | None:
        """transformers serve's process: the supervisor's one child."""
        children = _children(self.process.pid)
        return children[0] if len(children) == 1 else None

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def loaded(self) -> list[str]:
        try:
            listing = httpx.get(self.url + "/v1/models", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return []
        return [m["id"] for m in listing["data"] if m.get("status", {}).get("value") == "loaded"]

    def restarts(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if "restarting the inference server" in line]


@pytest.fixture
def supervised(request):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / f"supervised-inference-{request.node.name}.log"
    log.unlink(missing_ok=True)
    server = Supervised(log)
    try:
        _wait_for(lambda: server.process.poll() is not None or server.healthy(), 120, "/health")
        assert server.process.poll() is None, f"the supervisor exited; see {log}"
        yield server
    finally:
        left = _descendants(server.process.pid)
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(20)
            except subprocess.TimeoutExpired:
                server.process.kill()
        for pid in left:  # never leave the suite a server, whatever the test found
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serving(settings, supervised):
    """The deployments of these tests go to their own supervised server."""
    settings.INFERENCE_SERVER_URL = supervised.url
    settings.INFERENCE_BACKEND = "transformers"
    return supervised.url


@dataclass
class Call:
    started: float
    status: int = 0
    ended: float = 0.0
    stream_error: str = ""  # the error event a stream ended with


# One call started every 0.7 s at most: under the free plan's 100 a minute per key.
PACE_S = 0.7
BOUND_S = 10 + 20  # the endpoint's timeout, and room for a busy two-core machine


def test_a_killed_server_is_restarted_and_no_call_hangs(
    live_server_url, supervised, deployed, api_key
):
    # The calls through the outage must not meet the endpoint's limits, and a silent server
    # must answer (504) well within the bound on each call.
    Endpoint.objects.filter(pk=deployed.endpoint_id).update(
        rate_limit_rpm=100_000, tokens_per_minute=10_000_000, timeout_s=10
    )
    body = {
        "model": deployed.endpoint.name,
        "messages": [{"role": "user", "content": "how do i reset my password"}],
        "max_tokens": 200,
    }
    # Through the web process as shipped (Daphne), by callers of its own: the test's client
    # would write log rows from threads whose connections outlive the test database.
    calls, killed, server = asyncio.run(
        _calls_across_a_kill(live_server_url, supervised, body, api_key)
    )

    assert all(c.ended for c in calls), f"calls unanswered after {BOUND_S} s"
    assert {c.status for c in calls} <= {200, 502, 503, 504}, [c.status for c in calls]
    # A call in flight was cut, and told so: a 5xx, or an error event ending its stream.
    cut = [c for c in calls if c.started < killed < c.ended]
    assert any(c.status >= 500 or c.stream_error for c in cut), cut
    # The server gone, callers are told at once: a refused connection is a fast 502.
    refused = [c.ended - c.started for c in calls if c.started > killed and c.status == 502]
    assert refused and max(refused) < 5, refused
    assert supervised.restarts()[0].endswith(f"(pid {server}): it exited with code -9")

    # The endpoint's page told the truth meanwhile: as of the outage's last failed call, it was
    # not answering, since a moment after the kill.
    endpoint = Endpoint.objects.get(pk=deployed.endpoint_id)
    last_failure = wait_for(
        lambda: (
            RequestLog.objects.filter(endpoint=endpoint, status_code=502)
            .order_by("-created_at")
            .first()
        ),
        30,
        "the outage's log rows",
    )
    health = monitoring.endpoint_health(endpoint, now=last_failure.created_at)
    assert health.down and health.failed >= 2, health
    assert "calls failed" in health.why


async def _calls_across_a_kill(url: str, supervised: Supervised, body: dict, raw: str):
    """Four callers (two streaming) call without pause while transformers serve is killed in
    the middle of a streamed answer; they stop once the new server has answered one."""
    calls: list[Call] = []
    streaming: set[int] = set()  # calls mid-answer: a first chunk came, not the end
    next_start = [0.0]
    stopping = asyncio.Event()
    headers = {"Authorization": f"Bearer {raw}"}

    async def one_call(client: httpx.AsyncClient, call: Call, stream: bool) -> None:
        request = client.build_request(
            "POST", "/v1/chat/completions", json={**body, "stream": stream}, headers=headers
        )
        response = await client.send(request, stream=True)
        try:
            call.status = response.status_code
            async for chunk in response.aiter_text():
                if stream and call.status == 200:
                    streaming.add(id(call))
                    if '"error"' in chunk:
                        call.stream_error = chunk
        finally:
            streaming.discard(id(call))
            await response.aclose()
        call.ended = time.monotonic()

    async def caller(client: httpx.AsyncClient, stream: bool) -> None:
        while not stopping.is_set():
            now = time.monotonic()
            start, next_start[0] = max(now, next_start[0]), max(now, next_start[0]) + PACE_S
            await asyncio.sleep(start - now)
            call = Call(time.monotonic())
            calls.append(call)
            try:
                await asyncio.wait_for(one_call(client, call, stream), BOUND_S)
            except TimeoutError:
                pass  # left without an end: the test fails on it

    async def until(condition, timeout: float, what: str):
        async def poll():
            while not (result := condition()):
                await asyncio.sleep(0.05)
            return result

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"waited {timeout:.0f} s for {what}") from None

    async with httpx.AsyncClient(base_url=url, timeout=BOUND_S) as client:
        callers = [asyncio.create_task(caller(client, stream=i % 2 == 1)) for i in range(4)]
        try:
            await until(lambda: streaming, 60, "a stream mid-answer")
            server = supervised.server_pid()
            killed = time.monotonic()
            os.kill(server, signal.SIGKILL)
            await until(lambda: supervised.server_pid() not in (None, server), 60, "a new server")
            restarted = time.monotonic()
            answered = await until(
                lambda: [
                    c
                    for c in calls
                    if c.started > restarted and c.status == 200 and c.ended and not c.stream_error
                ],
                killed + BACK_WITHIN_S - time.monotonic(),
                "an answer from the new server",
            )
            back = min(c.ended for c in answered) - killed
            print(f"supervised: answering through the gateway again {back:.1f} s after the kill")
        finally:
            stopping.set()
            await asyncio.gather(*callers)
    return calls, killed, server


def test_a_dead_batching_engine_is_restarted_with_its_deployment(
    client, supervised, deployed, api_key
):
    server = supervised.server_pid()
    [model] = [
        pid for pid in _children(server) if "spawn_main" in _cmdline(pid)
    ]  # the model's process, where the batching loop runs
    killed = time.monotonic()
    os.kill(model, signal.SIGKILL)  # /health answers 503: the engine is dead

    def back_with_the_deployment() -> bool:
        new = supervised.server_pid()
        return new not in (None, server) and deployed.served_model in supervised.loaded()

    # Loaded again by the supervisor: no call has asked for it.
    _wait_for(back_with_the_deployment, BACK_WITHIN_S, "the deployment loaded again")
    reloaded = time.monotonic() - killed
    [restart] = supervised.restarts()
    assert f"(pid {server}): " in restart
    response = client.post(
        "/v1/chat/completions",
        json.dumps(
            {
                "model": deployed.endpoint.name,
                "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 4,
            }
        ),
        content_type="application/json",
        **bearer(api_key),
    )
    assert response.status_code == 200, response.content
    print(f"supervised: {restart.split(': ', 2)[-1]!r}; deployment back in {reloaded:.1f} s")


def test_sigterm_to_the_supervisor_leaves_nothing_running(supervised, tiny_model_dir):
    load_model(supervised.url, str(tiny_model_dir))  # a model's process, and its resource tracker
    started = _descendants(supervised.process.pid)
    assert len(started) >= 2, [_cmdline(pid) for pid in started]
    supervised.process.send_signal(signal.SIGTERM)
    assert supervised.process.wait(15) == 0
    _wait_for(lambda: not any(_alive(pid) for pid in started), 5, "every child to stop")
