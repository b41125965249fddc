"""Which servers hold a version, and keeping each endpoint at its replica count.

``choose``: the servers a version's replicas go to, all of one kind.
- A LoRA version goes first to GPU (vLLM) servers started with its base model: several versions
  of one base share a server, each adapter loaded at run time, up to the server's capacity
  (its ``--max-loras``). A full server unloads the adapter least recently called among those no
  live endpoint serves; it never unloads another team's live version.
- A full fine-tune on vLLM needs a server of its own, started with that version's folder.
- Otherwise a CPU server (transformers serve), which loads merged models. A version trained on
  a GPU goes there only when its deployment allows it and the base is small enough for a CPU.
Among the candidates, the least loaded first.

``reconcile``: every serving version has as many replicas taking calls as its endpoint asks
(within its plan): more are placed when a server went down or the count went up, extras removed
when it came down. The health round (``servers.check_all``) and the endpoint's settings run it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, Subquery

from apps.billing.metering import account_for
from workers.serving import ServerError
from workers.serving.merge import is_adapter
from workers.serving.server import unload_lora_adapter

from . import runpod_serving
from .models import (
    Deployment,
    DeploymentStatus,
    EndpointStatus,
    InferenceServer,
    Replica,
    ReplicaState,
    RequestLog,
    ServerKind,
    ServerState,
)
from .servers import ensure_configured, load_later, probe, serving_deployments

log = logging.getLogger(__name__)

HOLDING = (ReplicaState.LOADING, ReplicaState.READY, ReplicaState.DOWN)


class NoRoom(Exception):
    """No server can take the version; ``str()`` is for the person deploying."""


def merged_dir(run) -> Path:
    """One merged copy per version, shared by every endpoint and CPU server that serves it."""
    return Path(settings.DATA_DIR) / "serving" / "runs" / str(run.pk)


def served_name(deployment: Deployment, server: InferenceServer) -> str:
    """The name the server knows the version by: its adapter's on vLLM (one per version,
    shared by every endpoint that serves it), its merged folder on a CPU server."""
    if server.kind == ServerKind.RUNPOD:
        return runpod_serving.served_name(deployment)
    if server.kind == ServerKind.VLLM:
        if not is_adapter(deployment.run.adapter_dir):
            return server.base_model  # a whole model: the server's own, under its path
        return f"vf-{deployment.run_id.hex}"
    return str(merged_dir(deployment.run))


def wanted_replicas(deployment: Deployment) -> int:
    """The endpoint's replica count, within what its team's plan allows. A version on RunPod
    serverless has one endpoint there, whose workers RunPod adds and removes itself (up to the
    plan's replicas)."""
    if deployment.serverless:
        return 1
    plan = account_for(deployment.endpoint.project.team_id).effective_plan
    return max(1, min(deployment.endpoint.replicas, plan.max_replicas))


def _holds_base(server: InferenceServer, run) -> bool:
    base = run.base_model
    return not server.base_model or server.base_model in (base.source, base.slug)


def _kept(server: InferenceServer):
    """Replicas counting against the server's capacity: of versions that should answer."""
    return server.replicas.filter(
        state__in=HOLDING,
        deployment__status__in=[
            DeploymentStatus.READY,
            DeploymentStatus.QUEUED,
            DeploymentStatus.DEPLOYING,
        ],
    ).exclude(deployment__endpoint__status=EndpointStatus.STOPPED)


def _make_room(server: InferenceServer) -> bool:
    """Unload, from a full vLLM server, the adapter least recently called among those no live
    endpoint serves (retired or failed versions, stopped endpoints). False: nothing to unload."""
    idle = (
        server.replicas.exclude(pk__in=_kept(server).values("pk"))
        .annotate(
            last_call=Subquery(
                RequestLog.objects.filter(replica_id=OuterRef("pk"))
                .order_by("-created_at")
                .values("created_at")[:1]
            )
        )
        .order_by(F("last_call").asc(nulls_first=True), "created_at")
        .first()
    )
    if idle is None:
        return False
    try:
        _unload(idle)
    except ServerError as exc:
        log.warning("unloading an idle adapter failed", extra={"detail": str(exc)})
        return False
    idle.delete()
    return True


def _unload(replica: Replica) -> None:
    """Unload the replica's adapter unless another endpoint's replica of the same version on the
    same server still uses it (one adapter name per version). A server's own model stays."""
    if replica.served_model == replica.server.base_model:
        return
    shared = Replica.objects.filter(
        server_id=replica.server_id, served_model=replica.served_model
    ).exclude(pk=replica.pk)
    if not shared.exists():
        unload_lora_adapter(replica.server.url, replica.served_model)


def _room(server: InferenceServer) -> bool:
    """Whether the server can take one more version. A vLLM server holds every adapter loaded
    into it until it is unloaded (the idle one goes first); a CPU server lets idle models go by
    itself, so only those of versions that should answer count there."""
    if server.kind == ServerKind.CPU:
        return _kept(server).count() < server.capacity
    if server.replicas.filter(state__in=HOLDING).count() < server.capacity:
        return True
    return _make_room(server)


def choose(deployment: Deployment, count: int, allow_cpu: bool = False) -> list[InferenceServer]:
    """Up to ``count`` servers for the version's replicas (fewer when fewer have room), none
    already holding it. Raises NoRoom when there is not even one."""
    ensure_configured()
    run = deployment.run
    adapter = is_adapter(run.adapter_dir)
    servers = (
        InferenceServer.objects.filter(state=ServerState.HEALTHY)
        .exclude(replicas__deployment=deployment)
        .annotate(load=Count("replicas", filter=Q(replicas__state__in=HOLDING)))
        .order_by("load", "created_at")
    )
    gpu = [s for s in servers if s.kind == ServerKind.VLLM]
    any_gpu = bool(gpu)
    if adapter:
        gpu = [s for s in gpu if _holds_base(s, run)]
    else:  # a whole model: only a server started with this very version
        gpu = [s for s in gpu if s.base_model and s.base_model == str(run.adapter_dir)]
    cpu = [s for s in servers if s.kind == ServerKind.CPU]
    cpu_ok = run.hardware.is_cpu or (
        allow_cpu and run.base_model.params_billions <= settings.CPU_SERVE_MAX_PARAMS_B
    )
    for group in (gpu, cpu if cpu_ok else []):
        # Those answering /health first: a server that died since the last health round is
        # passed over. If none answers (the run command's own may still be starting), the
        # others: the deploy waits for them.
        answering = [server for server in group if not probe(server)]
        for candidates in (answering, [s for s in group if s not in answering]):
            picked = []
            for server in candidates:
                if len(picked) == count:
                    break
                if _room(server):
                    picked.append(server)
            if picked:
                return picked
    raise NoRoom(_no_room_reason(run, adapter, any_gpu, gpu, cpu, cpu_ok))


def _no_room_reason(run, adapter: bool, any_gpu: bool, gpu, cpu, cpu_ok: bool) -> str:
    ask = "Ask your administrator to add an inference server, or try again later."
    if gpu or (cpu and cpu_ok):
        return f"Every inference server that can serve this version is full. {ask}"
    if not adapter and (any_gpu or not run.hardware.is_cpu):
        return (
            "A full fine-tune on a GPU is served by a vLLM server of its own, started with this "
            f"version's folder ({run.adapter_dir}), and none is registered. {ask}"
        )
    if adapter and any_gpu and not (cpu and cpu_ok):
        return f"No GPU server holds {run.base_model.name}, the base of this version. {ask}"
    if not run.hardware.is_cpu and cpu:
        return (
            f"No GPU server holds {run.base_model.name}, and this version was trained on a GPU: "
            f"it is served on a CPU only if you allow it when deploying (bases up to "
            f"{settings.CPU_SERVE_MAX_PARAMS_B:g}B parameters). {ask}"
        )
    return f"No inference server is up. {ask}"


def _serverless(deployment: Deployment) -> list[InferenceServer]:
    """A RunPod serverless endpoint made for the version."""
    try:
        return [runpod_serving.create(deployment)]
    except runpod_serving.NotServable as exc:
        raise NoRoom(str(exc)) from exc
    except Exception as exc:  # the SDK's errors: refused key, unreachable API, bad answer
        log.warning("creating a runpod endpoint failed", extra={"detail": str(exc)[:300]})
        raise NoRoom(
            "RunPod could not create the serverless endpoint "
            f"({type(exc).__name__}). Try again in a minute; if it keeps failing, check the "
            "installation's RunPod key and account."
        ) from exc


def place(deployment: Deployment, count: int) -> list[Replica]:
    """Replica rows (loading) on up to ``count`` new servers; the caller loads them."""
    if deployment.serverless:
        servers = _serverless(deployment)
    else:
        servers = choose(deployment, count, allow_cpu=deployment.allow_cpu)
    replicas = []
    for server in servers:
        replica, _ = Replica.objects.update_or_create(
            deployment=deployment,
            server=server,
            defaults={
                "served_model": served_name(deployment, server),
                "state": ReplicaState.LOADING,
                "error": "",
            },
        )
        replicas.append(replica)
    return replicas


def replicas_for(deployment: Deployment) -> list[Replica]:
    """The replicas a deployment loads: those it already has on servers that answer (a version
    activated again for a rollback), then new ones up to the endpoint's count."""
    wanted = wanted_replicas(deployment)
    kept = list(
        deployment.replicas.select_related("server")
        .exclude(server__state=ServerState.DOWN)
        .order_by("created_at")
    )
    for replica in kept[wanted:]:
        drop(replica)
    kept = kept[:wanted]
    for replica in kept:
        replica.state = ReplicaState.LOADING
        replica.save(update_fields=["state"])
    if len(kept) < wanted:
        try:
            kept += place(deployment, wanted - len(kept))
        except NoRoom:
            if not kept:
                raise
    return kept


def reconcile(endpoint_id=None) -> dict:
    """Bring each serving version to its endpoint's replica count. Returns what it did."""
    added, removed, short = [], [], []
    deployments = serving_deployments().select_related(
        "run__base_model", "run__hardware", "endpoint__project"
    )
    if endpoint_id is not None:
        deployments = deployments.filter(endpoint_id=endpoint_id)
    for deployment in deployments:
        wanted = wanted_replicas(deployment)
        replicas = list(deployment.replicas.select_related("server"))
        if deployment.serverless and replicas:
            continue  # RunPod replaces its own workers; a new endpoint would not help
        taking = [
            r
            for r in replicas
            if r.state in (ReplicaState.READY, ReplicaState.LOADING)
            and r.server.state != ServerState.DOWN
        ]
        if len(taking) < wanted:
            try:
                new = place(deployment, wanted - len(taking))
            except NoRoom as exc:
                short.append(f"{deployment}: {exc}")
                new = []
            for replica in new:
                load_later(replica.pk)
                added.append(str(replica.pk))
        elif len(taking) > wanted:
            # The newest go first; a replica whose server is down is dropped before any.
            extra = sorted(taking, key=lambda r: r.created_at, reverse=True)[: len(taking) - wanted]
            for replica in extra:
                drop(replica)
                removed.append(str(replica.pk))
        # Replicas left down once enough others answer: nothing to wait for.
        if len(taking) >= wanted:
            for replica in replicas:
                if (
                    replica.state in (ReplicaState.DOWN, ReplicaState.FAILED)
                    and replica not in taking
                ):
                    drop(replica)
                    removed.append(str(replica.pk))
    return {"added": added, "removed": removed, "short": short}


def drop(replica: Replica) -> None:
    """Stop routing to a replica and free its place on the server (a RunPod endpoint made for
    the version goes at the health round's ``runpod_serving.sweep``)."""
    replica.delete()
    if replica.server.kind == ServerKind.VLLM and replica.server.state != ServerState.DOWN:
        try:
            _unload(replica)
        except ServerError as exc:  # it goes when the server restarts; nothing routes to it now
            log.warning("unloading a dropped replica failed", extra={"detail": str(exc)})
