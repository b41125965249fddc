"""Deploying a version onto its replicas' servers: claim the deployment (the status is the lock),
place it (placement.py), walk its five steps, and end it live or failed with a sentence.
`tasks.serve_deployment` calls `serve`; `tasks.serve_replica` loads one more replica."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.training.weights import model_source
from workers.serving import ServerError, health_check, load_lora_adapter, load_model, package_merged
from workers.serving.server import wait_for_server
from workers.training.engine import resolve_model_dir

from . import lifecycle, placement, runpod_serving
from .models import Deployment, DeploymentStatus, Replica, ReplicaState, ServerKind
from .placement import merged_dir

log = logging.getLogger(__name__)


def claim(deployment_id) -> Deployment | None:
    with transaction.atomic():
        deployment = (
            Deployment.objects.select_for_update(of=("self",))
            .select_related("run__base_model", "endpoint")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None or deployment.status != DeploymentStatus.QUEUED:
            return None  # gone, or a redelivery of one already taken
        deployment.status, deployment.step = DeploymentStatus.DEPLOYING, 0
        deployment.save(update_fields=["status", "step"])
        return deployment


def step(deployment: Deployment, index: int, detail: str = "") -> None:
    deployment.step, deployment.detail = index, detail
    Deployment.objects.filter(pk=deployment.pk).update(step=index, detail=detail)


def _package(deployment: Deployment, replicas: list[Replica]) -> None:
    """What the servers load: a CPU server a merged copy of the version (one per version,
    shared by every endpoint serving it), a vLLM server the adapter folder as it is."""
    run = deployment.run
    if any(r.server.kind == ServerKind.CPU for r in replicas) and not merged_ready(run):
        base_dir = resolve_model_dir(model_source(run.base_model))
        package_merged(base_dir, run.adapter_dir, merged_dir(run))


def merged_ready(run) -> bool:
    return (merged_dir(run) / "config.json").is_file()


def _wait(server) -> None:
    """Until the server answers its health route (SERVING_START_TIMEOUT_S at most)."""
    if server.kind != ServerKind.RUNPOD:
        wait_for_server(server.url, settings.SERVING_START_TIMEOUT_S)
        return
    why, _ = runpod_serving.probe(server)
    if why:
        raise ServerError(why, "RunPod did not answer for the new endpoint. Try again later.")


def load(replica: Replica) -> None:
    """Load the version into the replica's server and pass a real completion through it."""
    server, run = replica.server, replica.deployment.run
    _wait(server)
    if server.kind == ServerKind.RUNPOD:
        # The worker loads the version from the Hub as it starts: the first completion waits
        # for that cold start.
        health_check(
            server.url,
            replica.served_model,
            timeout=settings.RUNPOD_COLD_START_TIMEOUT_S,
            headers=runpod_serving.auth_headers(),
        )
        return
    if server.kind == ServerKind.VLLM:
        if replica.served_model != server.base_model:  # else: the server's own (a full fine-tune)
            load_lora_adapter(server.url, replica.served_model, run.adapter_dir)
    else:
        load_model(server.url, replica.served_model)
    health_check(server.url, replica.served_model)


def _ready(replica: Replica) -> None:
    Replica.objects.filter(pk=replica.pk).update(
        state=ReplicaState.READY, ready_at=timezone.now(), error="", down_since=None
    )


def _failed(replica: Replica, exc: Exception) -> None:
    log.warning(
        "replica failed to load",
        extra={"replica": str(replica.pk), "server_url": replica.server.url, "detail": str(exc)},
    )
    Replica.objects.filter(pk=replica.pk).update(state=ReplicaState.FAILED, error=str(exc)[:300])


def serve(deployment_id: str) -> str:
    """The five steps of docs/PRODUCT.md 6.2 on each of the endpoint's replicas; the route goes
    live once a real completion passes on at least one (the others are placed again by the
    health round's ``placement.reconcile``)."""
    deployment = claim(deployment_id)
    if deployment is None:
        return "skipped"
    started = time.monotonic()
    replicas: list[Replica] = []
    try:
        step(
            deployment,
            0,
            "Creating a RunPod serverless endpoint"
            if deployment.serverless
            else "Choosing the servers",
        )
        replicas = placement.replicas_for(deployment)
        if any(r.server.kind == ServerKind.CPU for r in replicas):
            step(deployment, 0, "Merging the adapter into the base model")
        _package(deployment, replicas)
        step(deployment, 1, f"{len(replicas)} server(s)")
        for replica in replicas:
            _wait(replica.server)
        if deployment.serverless:
            step(deployment, 2, "Waiting for a RunPod GPU to start and load the model")
        else:
            step(deployment, 2, "Loading the model into the servers")
        first = replicas[0]
        Deployment.objects.filter(pk=deployment.pk).update(
            backend=first.server.backend,
            server_url=first.server.url,
            served_model=first.served_model,
        )
        step(deployment, 3)
        step(deployment, 4, "A real completion through each server")
        errors = []
        for replica in replicas:
            try:
                load(replica)
            except ServerError as exc:
                _failed(replica, exc)
                errors.append(exc)
            else:
                _ready(replica)
        if len(errors) == len(replicas):
            raise errors[0]
    except placement.NoRoom as exc:
        log.warning(
            "deployment failed: no room", extra={"deployment": deployment_id, "detail": str(exc)}
        )
        lifecycle.deploy_failed(deployment, str(exc), detail=str(exc))
        return "failed"
    except ServerError as exc:
        # The user reads what happened and what to do; the operator's detail (the server's
        # address, its answer) goes to the log and stays on the row for the admin.
        urls = ", ".join(r.server.url for r in replicas)
        log.warning(
            "deployment failed",
            extra={"deployment": deployment_id, "server_url": urls, "detail": str(exc)},
        )
        lifecycle.deploy_failed(deployment, exc.user_message, detail=str(exc))
        return "failed"
    except Exception as exc:
        log.exception("deployment failed", extra={"deployment": deployment_id})
        lifecycle.deploy_failed(
            deployment,
            "The deployment failed unexpectedly. Try again in a minute; if it keeps failing, "
            "contact your administrator.",
            detail=f"{type(exc).__name__}: {exc}",
        )
        return "failed"
    Deployment.objects.filter(pk=deployment.pk).update(deploy_seconds=time.monotonic() - started)
    lifecycle.went_live(deployment)
    return "ready"


def serve_replica(replica_id: str) -> str:
    """Load one more replica of a live version (placed by ``placement.reconcile``)."""
    replica = (
        Replica.objects.select_related("server", "deployment__run__base_model")
        .filter(pk=replica_id, state=ReplicaState.LOADING)
        .first()
    )
    if replica is None:
        return "skipped"
    try:
        _package(replica.deployment, [replica])
        load(replica)
    except Exception as exc:  # noqa: BLE001  (the row says why; the next round places it again)
        _failed(replica, exc)
        return "failed"
    _ready(replica)
    return "ready"
