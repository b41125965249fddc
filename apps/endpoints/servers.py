"""Inference servers as rows: the run command's own (``ensure_configured``), ones that announce
themselves (``announce``), and their health (``check_all``, every SERVER_HEALTH_INTERVAL_S).

A server that fails SERVER_FAILURES_BEFORE_DOWN checks in a row, or that the gateway could not
reach several times in a short while (``mark_down``), is down: its replicas stop taking calls
and each version it held is placed again on a healthy server that has room (``reconcile``).
When it answers again it takes calls again; versions it lost in a restart are loaded again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import runpod_serving
from .models import (
    Deployment,
    DeploymentStatus,
    InferenceServer,
    Replica,
    ReplicaState,
    ServerKind,
    ServerState,
)

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0


def ensure_configured() -> InferenceServer:
    """The server INFERENCE_SERVER_URL names, as a row: the one-server shortcut (the run
    command's `inference` process, or a GPU node's vLLM) keeps working with nothing to add."""
    vllm = settings.INFERENCE_BACKEND == "vllm"
    server, _ = InferenceServer.objects.get_or_create(
        url=settings.INFERENCE_SERVER_URL,
        defaults={
            "name": "GPU server (vLLM)" if vllm else "This machine's CPU server",
            "kind": ServerKind.VLLM if vllm else ServerKind.CPU,
            "base_model": settings.INFERENCE_BASE_MODEL,
            "capacity": settings.INFERENCE_SERVER_CAPACITY,
            "slots": settings.INFERENCE_SERVER_SLOTS,
        },
    )
    return server


@dataclass(frozen=True)
class Announcement:
    url: str
    kind: str
    name: str = ""
    base_model: str = ""
    capacity: int = 4
    slots: int = 4


def announce(news: Announcement) -> InferenceServer:
    """A server saying it is up (on start, and again when it restarts): a row for it, healthy.
    Its replicas are checked by the next health round (a restarted vLLM has lost its adapters).
    An address VibeFlow made for a RunPod endpoint is never taken over this way."""
    if InferenceServer.objects.filter(url=news.url, kind=ServerKind.RUNPOD).exists():
        raise ValueError("That address is a RunPod endpoint's.")
    server, created = InferenceServer.objects.update_or_create(
        url=news.url,
        defaults={
            "kind": news.kind,
            "name": news.name or news.url.split("//")[-1],
            "base_model": news.base_model,
            "capacity": news.capacity,
            "slots": news.slots,
        },
    )
    log.info("inference server announced", extra={"server": server.url, "new": created})
    return server


def probe(server: InferenceServer) -> str:
    """'' when the server answers /health, else why not (for operators)."""
    if server.kind == ServerKind.RUNPOD:
        return runpod_serving.probe(server)[0]
    try:
        response = httpx.get(f"{server.url}/health", timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return "" if response.status_code == 200 else f"/health answered {response.status_code}"


def loaded_models(server: InferenceServer) -> set[str] | None:
    """The names the server lists at /v1/models (None: it did not say)."""
    try:
        response = httpx.get(f"{server.url}/v1/models", timeout=HEALTH_TIMEOUT_S)
        return {card["id"] for card in response.json().get("data") or []}
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None


def mark_down(server: InferenceServer, reason: str) -> bool:
    """Take the server out of routing now; False when it already was."""
    with transaction.atomic():
        changed = (
            InferenceServer.objects.filter(pk=server.pk)
            .exclude(state=ServerState.DOWN)
            .update(state=ServerState.DOWN, down_since=timezone.now(), error=reason[:300])
        )
        if changed:
            Replica.objects.filter(server=server, state=ReplicaState.READY).update(
                state=ReplicaState.DOWN, down_since=timezone.now()
            )
    if changed:
        log.warning("inference server down", extra={"server": server.url, "detail": reason})
    return bool(changed)


def mark_up(server: InferenceServer) -> list[Replica]:
    """The server answers again: it takes calls. Returns its replicas that were down, for the
    caller to check they are still loaded."""
    InferenceServer.objects.filter(pk=server.pk).update(
        state=ServerState.HEALTHY, down_since=None, failures=0, error=""
    )
    log.info("inference server up again", extra={"server": server.url})
    return list(server.replicas.filter(state=ReplicaState.DOWN).select_related("deployment"))


def load_later(replica_id) -> None:
    """Queue the loading of a replica once this transaction commits (by name: the tasks module
    imports this one)."""
    transaction.on_commit(
        lambda: current_app.send_task("apps.endpoints.tasks.serve_replica", args=[str(replica_id)])
    )


def check_all() -> dict:
    """One health round over every server (``tasks.check_servers`` then puts the replicas right
    with ``placement.reconcile``). Returns what it did, for the task's result and the tests."""
    report = {"checked": 0, "down": [], "up": [], "reload": []}
    for server in InferenceServer.objects.all():
        report["checked"] += 1
        if server.kind == ServerKind.RUNPOD:
            why, workers = runpod_serving.probe(server)
            if not why:
                runpod_serving.meter(server, workers)  # the workers up since the last round
        else:
            why = probe(server)
        now = timezone.now()
        if why:
            failures = server.failures + 1
            InferenceServer.objects.filter(pk=server.pk).update(
                failures=failures, last_checked_at=now, error=why
            )
            if failures >= settings.SERVER_FAILURES_BEFORE_DOWN and mark_down(server, why):
                report["down"].append(server.url)
            continue
        InferenceServer.objects.filter(pk=server.pk).update(failures=0, last_checked_at=now)
        if server.state == ServerState.DOWN:
            mark_up(server)
            report["up"].append(server.url)
        report["reload"] += _recheck_replicas(server)
    return report


def _recheck_replicas(server: InferenceServer) -> list[str]:
    """Replicas the server should hold: those it still lists take calls again; those it lost
    (a restart) load again. A CPU server loads models when first called, and its supervisor
    loads them again after a restart, so only what it lists and what it does not are told
    apart where it answers /v1/models."""
    replicas = list(
        server.replicas.filter(
            state__in=[ReplicaState.READY, ReplicaState.DOWN],
            deployment__status=DeploymentStatus.READY,
        )
    )
    if not replicas:
        return []
    # RunPod's workers load their version when they start; asking one would wake it.
    listed = None if server.kind == ServerKind.RUNPOD else loaded_models(server)
    reload = []
    for replica in replicas:
        if (
            listed is not None
            and server.kind == ServerKind.VLLM
            and replica.served_model not in listed
        ):
            Replica.objects.filter(pk=replica.pk).update(state=ReplicaState.LOADING)
            load_later(replica.pk)
            reload.append(str(replica.pk))
        elif replica.state == ReplicaState.DOWN:
            Replica.objects.filter(pk=replica.pk).update(state=ReplicaState.READY, down_since=None)
    return reload


def serving_deployments():
    """Versions that should be answering: ready, on an endpoint that is not stopped."""
    return Deployment.objects.filter(status=DeploymentStatus.READY).exclude(
        endpoint__status="stopped"
    )
