"""Replicas that follow load: the decision (up on a short window's mean, down on a long window's
peak, never flapping on a load that hovers), and the whole loop through the gateway as shipped
(Daphne) against local servers that answer as vLLM does, with a real worker loading replicas."""

from __future__ import annotations

import threading
import time

import httpx
from django.urls import reverse

from apps.billing.models import Plan
from apps.endpoints import autoscale, keys
from apps.endpoints.autoscale import decide
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    Endpoint,
    Replica,
    ReplicaState,
    ScaleEvent,
)
from apps.endpoints.services import deploy_run

from .test_replicas import deploy, gpus, plans  # noqa: F401  (fixtures)

WINDOWS = {"up_window_s": 60.0, "down_window_s": 300.0}


def rounds(counts, every=10.0, start=0.0):
    """Samples one round apart."""
    return [(start + i * every, count) for i, count in enumerate(counts)]


def test_up_on_the_mean_of_the_short_window_straight_to_what_it_needs():
    samples = rounds([0] * 30 + [9, 11, 10, 10, 9, 11])
    now = samples[-1][0]
    # 10 in flight on average over the last minute, 2 per replica: 5 replicas, capped at 4.
    decision = decide(1, samples, now, target=2, fewest=1, most=4, **WINDOWS)
    assert decision.replicas == 4
    assert "more than 2 per replica on 1" in decision.reason
    assert decide(1, samples, now, target=2, fewest=1, most=8, **WINDOWS).replicas == 5
    # At the target (not over it) there is nothing to add.
    assert decide(5, samples, now, target=2, fewest=1, most=8, **WINDOWS) is None


def test_down_only_on_the_peak_of_the_long_window_once_it_is_covered():
    quiet = rounds([1] * 40)
    now = quiet[-1][0]
    decision = decide(3, quiet, now, target=2, fewest=1, most=4, **WINDOWS)
    assert decision.replicas == 1 and decision.load == 1.0
    assert "at most 1 calls in flight over the last 300 s" in decision.reason
    # A moment's calm after a busy spell: the busy samples are still in the window.
    spell = rounds([8] * 10 + [0] * 20)
    assert decide(4, spell, spell[-1][0], target=2, fewest=1, most=4, **WINDOWS) is None
    # Samples that do not yet cover the window (the endpoint just started being watched).
    fresh = rounds([0] * 5)
    assert decide(3, fresh, fresh[-1][0], target=2, fewest=1, most=4, **WINDOWS) is None
    # Never under the fewest.
    assert decide(3, quiet, now, target=2, fewest=2, most=4, **WINDOWS).replicas == 2


def test_a_load_that_hovers_at_a_boundary_adds_a_replica_once_and_keeps_it():
    """Calls in flight swing between 3 and 5 around 2 replicas × 2: one scale-up, then no
    change for an hour of rounds (a mean-only rule both ways would add and remove all along)."""
    samples, replicas, changes = [], 1, []
    for i in range(360):
        now = i * 10.0
        samples.append((now, 3 if i % 4 < 2 else 5))
        samples = [s for s in samples if s[0] > now - 400]
        decision = decide(replicas, samples, now, target=2, fewest=1, most=4, **WINDOWS)
        if decision:
            changes.append((i, replicas, decision.replicas))
            replicas = decision.replicas
    # Up to what the busiest moments need (5 in flight: 3 replicas), and never down again.
    assert [after for _, _, after in changes] == [2, 3]
    assert changes[-1][0] < 10


def test_bounds_changed_by_hand_are_met_at_the_next_round():
    samples = rounds([0])
    assert decide(1, samples, 0, target=4, fewest=2, most=4, **WINDOWS).replicas == 2
    assert decide(5, samples, 0, target=4, fewest=1, most=3, **WINDOWS).replicas == 3


class Load:
    """Callers looping over short chat calls through the web process until stopped."""

    def __init__(self, url: str, key: str, model: str, callers: int):
        self.url, self.key, self.model = url, key, model
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(callers)]

    def _call(self):
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3,
        }
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                response = client.post(
                    f"{self.url}/v1/chat/completions", json=body, headers=headers
                )
                self.statuses.append(response.status_code)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def until(check, timeout=30.0, every=0.25):
    """Run autoscaling rounds (what the beat job runs) until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the autoscaler did not get there in time"
        autoscale.run()
        time.sleep(every)


def ready_servers(deployment) -> set[str]:
    return set(
        Replica.objects.filter(deployment=deployment, state=ReplicaState.READY).values_list(
            "server__name", flat=True
        )
    )


def test_replicas_follow_load_through_the_gateway(
    seeded_catalog,  # first: an earlier transactional test's flush emptied the catalog
    gpus,  # noqa: F811
    trained_run,
    owner,
    login,
    live_server_url,
    celery_worker_thread,
    settings,
):
    settings.AUTOSCALE_UP_WINDOW_S = 2.0
    settings.AUTOSCALE_DOWN_WINDOW_S = 3.0
    Plan.objects.update(max_replicas=4, rate_limit_rpm=100_000)
    for fake in gpus:
        fake.delay_s = 0.4
    deployment = deploy_run(trained_run, owner)  # the worker loads it
    wait_for(lambda: ready_servers(deployment) == {"gpu-a"})
    deployment = Deployment.objects.select_related("endpoint__project").get(pk=deployment.pk)
    assert deployment.status == DeploymentStatus.READY
    endpoint = deployment.endpoint
    Endpoint.objects.filter(pk=endpoint.pk).update(
        autoscale=True,
        min_replicas=1,
        max_replicas=3,
        target_in_flight=2,
        rate_limit_rpm=100_000,
        tokens_per_minute=10_000_000,
    )
    _, raw = keys.create_key(endpoint.project, owner, "load")

    with Load(live_server_url, raw, endpoint.name, callers=6) as load:
        # Six calls in flight against a target of two per replica: three replicas, each
        # loaded by the worker and then taking calls.
        until(lambda: len(ready_servers(deployment)) == 3)
        answered_before = [len(fake.answered) for fake in gpus]
        time.sleep(2)
        answered_after = [len(fake.answered) for fake in gpus]
    assert all(
        after > before for before, after in zip(answered_before, answered_after, strict=True)
    )
    assert load.statuses and set(load.statuses) == {200}
    up = list(ScaleEvent.objects.filter(endpoint=endpoint).order_by("at"))
    assert up[0].before == 1 and up[-1].after == 3
    assert all(event.after > event.before for event in up)

    # The load is gone: once the long window holds no call, back to the fewest, and the
    # adapters of the replicas dropped are unloaded from their servers.
    until(lambda: len(ready_servers(deployment)) == 1)
    assert Endpoint.objects.get(pk=endpoint.pk).replicas == 1
    downs = list(ScaleEvent.objects.filter(endpoint=endpoint).order_by("at")[len(up) :])
    assert downs and all(event.after < event.before for event in downs)
    assert downs[-1].after == 1 and "calls in flight over the last 3 s" in downs[-1].reason
    unloaded = [name for fake in gpus for name in fake.unloaded]
    assert unloaded == [deployment.served_model] * 2

    page = login(owner).get(reverse("endpoint_detail", args=[endpoint.pk])).content.decode()
    assert 'id="scale-events"' in page and "set by the autoscaler between 1 and 3" in page
    assert f"{downs[-1].before} → 1" in page


def test_autoscale_settings_are_checked_and_another_teams_are_a_404(
    gpus,  # noqa: F811
    trained_run,
    owner,
    outsider,
    login,
):
    deployment = deploy(trained_run, owner, replicas=1)
    url = reverse("endpoint_settings", args=[deployment.endpoint_id])
    fields = {"rate_limit_rpm": 100, "tokens_per_minute": 1000, "timeout_s": 30}
    client = login(owner)
    Plan.objects.update(max_replicas=3)
    for bad, field in (
        ({"min_replicas": 3, "max_replicas": 2}, "cannot be more than the most"),
        ({"max_replicas": 4}, "allows up to 3 replicas"),
        ({"min_replicas": 0}, ""),
        ({"target_in_flight": 0}, ""),
        ({"target_in_flight": "lots"}, ""),
        ({"max_replicas": "-1"}, ""),
    ):
        response = client.post(url, {**fields, "autoscale": "on", **bad})
        assert response.status_code == 400, bad
        assert field in response.content.decode()
    endpoint = Endpoint.objects.get(pk=deployment.endpoint_id)
    assert not endpoint.autoscale and endpoint.max_replicas == 2  # nothing saved
    ok = {"autoscale": "on", "min_replicas": 2, "max_replicas": 3, "target_in_flight": 8}
    assert client.post(url, {**fields, **ok}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.autoscale and (endpoint.min_replicas, endpoint.max_replicas) == (2, 3)
    assert endpoint.replicas == 2  # brought within the bounds at once
    assert endpoint.target_in_flight == 8
    assert login(outsider).post(url, {**fields, "autoscale": ""}).status_code == 404
    assert Endpoint.objects.get(pk=deployment.endpoint_id).autoscale
