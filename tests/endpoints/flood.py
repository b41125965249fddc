"""Two teams on one inference server: team A floods it with odd and huge calls while team B
makes ordinary ones. Used by tests/endpoints/test_fair_sharing.py (what B gets) and
bench/bench_serving.py (how fast B gets it, against B alone).

Plain httpx against a running web process; no Django here.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

LONG_TEXT = " ".join(
    f"Order {n} arrived damaged and the replacement was sent to the wrong address."
    for n in range(220)
)


def odd_and_huge(name: str) -> list[dict]:
    """What team A sends, in turn: the heaviest calls the gateway admits on a CPU server (a
    long prompt, a long answer, four choices), and calls that used to jam the server and are
    now refused at the gateway."""
    user = [{"role": "user", "content": "Summarise this."}]
    return [
        {
            "model": name,
            "messages": [{"role": "user", "content": LONG_TEXT[:2800]}],
            "max_tokens": 300,
        },
        {"model": name, "messages": user, "max_tokens": 980},
        {"model": name, "messages": user, "max_tokens": 128, "n": 4},
        {"model": name, "messages": [{"role": "user", "content": LONG_TEXT}], "max_tokens": 256},
        {"model": name, "messages": user, "max_tokens": 4000},
        {"model": name, "messages": user * 1000, "max_tokens": 64},
        {"model": name, "messages": user, "n": 50},
        {"model": name, "messages": user, "stop": [f"s{i}" for i in range(5000)]},
        {"model": name, "messages": user, "generation_config": '{"num_beams": 64}'},
        {"model": name, "messages": user, "temperature": "hot"},
    ]


B_BODY = {"messages": [{"role": "user", "content": "How do I reset my password?"}]}


@dataclass
class Flood:
    """Team A's callers, each looping over ``odd_and_huge`` until stopped."""

    url: str
    key: str
    name: str
    callers: int = 16
    timeout: float = 60.0
    statuses: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list = field(default_factory=list)

    def _caller(self, offset: int) -> None:
        bodies = itertools.cycle(odd_and_huge(self.name))
        for _ in range(offset):
            next(bodies)
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                pause = 0.0
                try:
                    response = client.post(
                        f"{self.url}/v1/chat/completions", json=next(bodies), headers=headers
                    )
                    status = response.status_code
                    # As OpenAI's clients do: wait what Retry-After says before calling again.
                    pause = float(response.headers.get("Retry-After", 0)) if status == 429 else 0
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.statuses[status] += 1
                self._stop.wait(pause)

    def __enter__(self):
        for index in range(self.callers):
            thread = threading.Thread(target=self._caller, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)


def team_b_calls(url: str, key: str, name: str, calls: int, tokens: int = 16) -> list[dict]:
    """B's calls one after another: status, seconds, and the answer's request id."""
    out = []
    headers = {"Authorization": f"Bearer {key}"}
    body = {**B_BODY, "model": name, "max_tokens": tokens, "temperature": 0}
    with httpx.Client(timeout=120) as client:
        for _ in range(calls):
            started = time.perf_counter()
            response = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            out.append(
                {
                    "status": response.status_code,
                    "seconds": time.perf_counter() - started,
                    "request_id": response.headers.get("x-request-id"),
                    "tokens": (response.json().get("usage") or {}).get("completion_tokens"),
                }
            )
    return out


def p50(results: list[dict]) -> float:
    return statistics.median(r["seconds"] for r in results)
