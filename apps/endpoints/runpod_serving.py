"""Serving a version on RunPod serverless: GPUs on demand, scaled to zero when idle.

A deployment that asks for it (``Deployment.serverless``) gets a serverless endpoint of its
own, made through the runpod SDK: a template running RunPod's vLLM worker
(RUNPOD_SERVING_IMAGE), told by its environment which base model to load and which LoRA
adapter to add, both from the Hugging Face Hub (the version must have been pushed there: the
worker cannot read this server's disk), and an endpoint with no worker when idle and at most
the team's plan's replicas. The endpoint is a row of the server table (kind ``runpod``) whose
address is RunPod's OpenAI-compatible route, so the gateway calls it like any other replica,
with the RunPod key in its Authorization header.

Its health is the endpoint's ``/health`` (workers by state, jobs by state). The same reading
meters it: each health round bills the seconds since the last one for every worker RunPod
reports up (idle or running; idle workers are billed until their idle timeout), at
RUNPOD_SERVERLESS_PRICE_PER_S, as a usage event of the endpoint.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import HubToken
from apps.billing.metering import account_for, record_serverless
from vibeflow_site.runpod_sdk import RunPodUnavailable, sdk
from workers.serving.merge import is_adapter

from .exports import public_id
from .models import Deployment, DeploymentStatus, HubPush, InferenceServer, PushStatus, ServerKind

log = logging.getLogger(__name__)

# Worker states in /health that hold a GPU (and are billed).
BILLED_STATES = ("idle", "running")


class NotServable(Exception):
    """The version cannot go to RunPod; ``str()`` is for the person deploying."""


def enabled() -> bool:
    return bool(settings.RUNPOD_API_KEY)


def served_name(deployment: Deployment) -> str:
    """What callers' calls name at the worker: the version (the adapter, or the merged model)."""
    return f"vf-{deployment.run_id.hex}"


def worker_env(deployment: Deployment) -> dict[str, str]:
    """What RunPod's vLLM worker is told: the base and the version, from the Hub."""
    run = deployment.run
    pushed = (
        HubPush.objects.filter(run=run, status=PushStatus.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )
    if pushed is None:
        raise NotServable(
            "RunPod loads the version from the Hugging Face Hub: push this version to "
            "the Hub first (“Push to the Hub” on its page), then deploy it to RunPod."
        )
    served = served_name(deployment)
    env = {
        "MAX_MODEL_LEN": str(run.base_model.context_length),
        "OPENAI_SERVED_MODEL_NAME_OVERRIDE": served,
        "MAX_CONCURRENCY": str(settings.RUNPOD_CALLS_PER_WORKER),
    }
    if pushed.merged or not is_adapter(run.adapter_dir):
        env["MODEL_NAME"] = pushed.repo_id
    else:
        base = public_id(run.base_model)
        if base is None:
            raise NotServable(
                f"{run.base_model.name} is not on the Hugging Face Hub, so RunPod "
                "cannot load it: push the merged model (base and adapter in one) instead."
            )
        # The adapter under the version's own name; the base alone is not served to callers.
        env |= {
            "MODEL_NAME": base,
            "OPENAI_SERVED_MODEL_NAME_OVERRIDE": f"{served}-base",
            "ENABLE_LORA": "true",
            "MAX_LORAS": "1",
            "LORA_MODULES": json.dumps([{"name": served, "path": pushed.repo_id}]),
        }
    if pushed.private:
        row = HubToken.objects.filter(user_id=pushed.requested_by_id).first()
        if row is None:
            raise NotServable(
                "The version is in a private Hub repository and the Hugging Face token that "
                "pushed it was removed: save it again, or make the repository public."
            )
        env["HF_TOKEN"] = row.reveal()  # goes to RunPod's template only, never to a log
    return env


def create(deployment: Deployment) -> InferenceServer:
    """A serverless endpoint for the version, as a row of the server table."""
    try:
        runpod = sdk()
    except RunPodUnavailable as exc:
        raise NotServable(
            "RunPod serverless is not set up on this installation (no RunPod API key)."
        ) from exc
    env = worker_env(deployment)
    name = f"vibeflow-{deployment.pk.hex[:16]}"
    plan = account_for(deployment.endpoint.project.team_id).effective_plan
    template = runpod.create_template(
        name=name,
        image_name=settings.RUNPOD_SERVING_IMAGE,
        container_disk_in_gb=30,
        # The SDK writes each value between double quotes as it is: LORA_MODULES' JSON would
        # end the GraphQL string at its first quote.
        env={key: _graphql_string(value) for key, value in env.items()},
        is_serverless=True,
    )
    try:
        endpoint = runpod.create_endpoint(
            name=name,
            template_id=template["id"],
            gpu_ids=settings.RUNPOD_SERVING_GPU_IDS,
            idle_timeout=settings.RUNPOD_IDLE_TIMEOUT_S,
            workers_min=0,  # scale to zero
            workers_max=plan.max_replicas,
            flashboot=True,
        )
    except Exception:
        _delete_template(name)
        raise
    server = InferenceServer.objects.create(
        name=f"RunPod {endpoint['id']}",
        kind=ServerKind.RUNPOD,
        url=f"{settings.RUNPOD_ENDPOINT_BASE_URL}/{endpoint['id']}/openai",
        base_model=env["MODEL_NAME"],
        capacity=1,
        slots=plan.max_replicas * settings.RUNPOD_CALLS_PER_WORKER,
        external_id=endpoint["id"],
        template_name=name,
        metered_until=timezone.now(),
    )
    log.info(
        "runpod serverless endpoint created",
        extra={"deployment": str(deployment.pk), "runpod_endpoint": endpoint["id"]},
    )
    return server


def auth_headers() -> dict[str, str]:
    """What calls to a RunPod endpoint carry (the gateway's, the deploy's health check)."""
    return {"Authorization": f"Bearer {settings.RUNPOD_API_KEY}"}


def probe(server: InferenceServer) -> tuple[str, dict]:
    """('', the workers by state) when RunPod answers the endpoint's /health, else (why not,
    {}). Reading it wakes no worker: scaled to zero, an endpoint is healthy with none up."""
    import requests

    try:
        answer = sdk().Endpoint(server.external_id).health(timeout=5)
    except (RunPodUnavailable, RuntimeError, requests.RequestException) as exc:
        return f"RunPod /health: {type(exc).__name__}: {exc}"[:300], {}
    workers = answer.get("workers") if isinstance(answer, dict) else None
    if not isinstance(workers, dict):
        return "RunPod /health said nothing of its workers", {}
    return "", workers


def meter(server: InferenceServer, workers: dict) -> None:
    """Bill the workers RunPod reports up for the time since the last reading, to the team of
    the version the endpoint serves."""
    now = timezone.now()
    with transaction.atomic():
        locked = InferenceServer.objects.select_for_update().filter(pk=server.pk).first()
        if locked is None or locked.metered_until is None:
            return
        since = locked.metered_until
        InferenceServer.objects.filter(pk=server.pk).update(metered_until=now)
        up = sum(int(workers.get(state) or 0) for state in BILLED_STATES)
        seconds = (now - since).total_seconds()
        # After a gap in the readings (RunPod unreachable, the health round stopped) nothing
        # says how long those GPUs were up: bill at most two rounds' worth, never the gap.
        most = 2 * settings.CELERY_BEAT_SCHEDULE["check-inference-servers"]["schedule"]
        if seconds > most:
            log.warning(
                "runpod metering gap",
                extra={"runpod_endpoint": server.external_id, "seconds": round(seconds)},
            )
            seconds = most
        replica = locked.replicas.select_related("deployment__endpoint__project").first()
        if up <= 0 or seconds <= 0 or replica is None:
            return
        endpoint = replica.deployment.endpoint
        record_serverless(
            team_id=endpoint.project.team_id,
            project=endpoint.project,
            endpoint=endpoint,
            workers=up,
            seconds=seconds,
            unit_price=Decimal(settings.RUNPOD_SERVERLESS_PRICE_PER_S),
            gpu=settings.RUNPOD_SERVING_GPU_IDS.split(",")[0],
            source=f"serverless:{server.pk}:{int(since.timestamp() * 1000)}",
        )


def delete(server: InferenceServer) -> None:
    """Remove the endpoint and its template at RunPod (its workers stop at once)."""
    sdk()  # the key
    from runpod.api.graphql import run_graphql_query

    run_graphql_query(f'mutation {{ deleteEndpoint(id: "{server.external_id}") }}')
    _delete_template(server.template_name)
    log.info("runpod serverless endpoint deleted", extra={"runpod_endpoint": server.external_id})


def _delete_template(name: str) -> None:
    from runpod.api.graphql import run_graphql_query

    try:
        run_graphql_query(f'mutation {{ deleteTemplate(templateName: "{name}") }}')
    except Exception as exc:  # noqa: BLE001  (a template left over costs nothing)
        log.warning("deleting a runpod template failed", extra={"detail": str(exc)[:300]})


def sweep() -> list[str]:
    """Delete, at RunPod, the endpoints no version needs any more: their version was deleted,
    failed to deploy, or moved off (the health round runs this). Returns their ids."""
    gone = []
    servers = InferenceServer.objects.filter(kind=ServerKind.RUNPOD).exclude(
        replicas__deployment__status__in=[
            DeploymentStatus.QUEUED,
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.READY,
        ]
    )
    young = timezone.now() - timedelta(minutes=10)
    for server in servers.exclude(replicas__isnull=True, created_at__gt=young):
        # (one made a moment ago whose replica row is not written yet is left for later)
        try:
            delete(server)
        except Exception as exc:  # noqa: BLE001  (tried again at the next round)
            log.warning(
                "deleting a runpod endpoint failed",
                extra={"runpod_endpoint": server.external_id, "detail": str(exc)[:300]},
            )
            continue
        server.delete()
        gone.append(server.external_id)
    return gone


def _graphql_string(value: str) -> str:
    """``value`` escaped for the inside of a GraphQL string literal (JSON's escapes are
    GraphQL's)."""
    return json.dumps(value)[1:-1]
