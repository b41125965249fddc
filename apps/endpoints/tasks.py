"""Deploying a version (gpu queue: it loads models) and probing live endpoints (default queue)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workers.serving import ServerError, health_check, load_lora_adapter, load_model, package_merged
from workers.serving.merge import is_adapter
from workers.serving.server import wait_for_server

from . import lifecycle, monitoring
from .models import Deployment, DeploymentStatus, Endpoint, EndpointStatus, HealthCheck

log = logging.getLogger(__name__)


def merged_dir(run) -> Path:
    """One merged copy per version, shared by every endpoint that serves it."""
    return Path(settings.DATA_DIR) / "serving" / "runs" / str(run.pk)


def _claim(deployment_id) -> Deployment | None:
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


def _step(deployment: Deployment, index: int, detail: str = "") -> None:
    deployment.step, deployment.detail = index, detail
    Deployment.objects.filter(pk=deployment.pk).update(step=index, detail=detail)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def serve_deployment(deployment_id: str) -> str:
    """The five steps of docs/PRODUCT.md 6.2; the route goes live only after a real completion passes."""
    deployment = _claim(deployment_id)
    if deployment is None:
        return "skipped"
    started = time.monotonic()
    run = deployment.run
    backend, url = settings.INFERENCE_BACKEND, settings.INFERENCE_SERVER_URL
    try:
        _step(
            deployment,
            0,
            "Merging the adapter into the base model" if backend == "transformers" else "",
        )
        if backend == "vllm":
            if not is_adapter(run.adapter_dir):
                raise ServerError(
                    "vLLM serves versions as LoRA adapters; a full fine-tuning run needs its own server.",
                    "This installation serves versions as LoRA adapters, and this version is a full "
                    "fine-tune: deploy a LoRA or QLoRA version instead.",
                )
            served = f"vf-{run.pk.hex}"
        else:
            from apps.training.weights import model_source
            from workers.training.engine import resolve_model_dir

            base_dir = resolve_model_dir(model_source(run.base_model))
            served = str(package_merged(base_dir, run.adapter_dir, merged_dir(run)))
        _step(deployment, 1)
        wait_for_server(url, settings.SERVING_START_TIMEOUT_S)
        _step(deployment, 2, "Loading the model into the server")
        if backend == "vllm":
            load_lora_adapter(url, served, run.adapter_dir)
        else:
            load_model(url, served)
        _step(deployment, 3)
        Deployment.objects.filter(pk=deployment.pk).update(
            backend=backend, server_url=url, served_model=served
        )
        _step(deployment, 4, "A real completion through the server")
        health_check(url, served)
    except ServerError as exc:
        # The user reads what happened and what to do; the operator's detail (the server's
        # address, its answer) goes to the log and stays on the row for the admin.
        log.warning(
            "deployment failed",
            extra={"deployment": deployment_id, "server_url": url, "detail": str(exc)},
        )
        lifecycle.deploy_failed(deployment, exc.user_message, detail=str(exc))
        return "failed"
    except Exception as exc:
        log.exception("deployment failed", extra={"deployment": deployment_id, "server_url": url})
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


@shared_task
def check_endpoints() -> int:
    """Probe each live endpoint's servers, then note on the endpoint whether it answers (its
    probe and its last calls: ``monitoring.endpoint_health``), so its badge says "Not answering
    since ..." everywhere, lists included, until it answers again."""
    checked = 0
    for endpoint in Endpoint.objects.filter(status=EndpointStatus.LIVE):
        urls = set(
            endpoint.deployments.filter(status=DeploymentStatus.READY, weight__gt=0).values_list(
                "server_url", flat=True
            )
        )
        ok, detail, latency = True, "", 0.0
        for url in urls:
            started = time.monotonic()
            try:
                response = httpx.get(f"{url}/health", timeout=5)
                if response.status_code != 200:
                    ok, detail = False, f"{url} answered {response.status_code}"
            except httpx.HTTPError as exc:
                ok, detail = False, f"{url}: {exc}"[:200]
            latency = max(latency, (time.monotonic() - started) * 1000)
        if urls:
            HealthCheck.objects.create(endpoint=endpoint, ok=ok, latency_ms=latency, detail=detail)
            checked += 1
        monitoring.note_health(endpoint)
    # Stopped or redeploying: its badge says so, and a later start must not inherit an old outage.
    Endpoint.objects.exclude(status=EndpointStatus.LIVE).filter(down_since__isnull=False).update(
        down_since=None
    )
    HealthCheck.objects.filter(created_at__lt=timezone.now() - timezone.timedelta(days=31)).delete()
    return checked


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_merged(run_id: str) -> str:
    """The "merged" download: base + adapter as one model, zipped (gpu queue: it loads it)."""
    from apps.training.models import TrainingRun

    from . import exports

    run = TrainingRun.objects.select_related("base_model", "project").get(pk=run_id)
    if exports.merged_state(run)["state"] == "ready":
        return "ready"
    exports.set_merged_state(run, "building")
    try:
        exports.build_merged(run)
    except Exception as exc:
        log.exception("merged export failed", extra={"run": run_id})
        exports.set_merged_state(run, "failed", f"Merging failed: {exc}")
        return "failed"
    return "ready"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def push_to_hub(push_id: str) -> str:
    """Upload a version to the Hub (default queue: network work, no model loaded). The token is
    read from the requesting user's encrypted row here; it never travels through the broker."""
    from apps.accounts.models import HubToken
    from vibeflow_site.encryption import CannotDecrypt

    from . import hub
    from .models import HubPush, PushStatus

    with transaction.atomic():
        push = (
            HubPush.objects.select_for_update(of=("self",))
            .select_related("run__project", "run__base_model", "run__hardware")
            .filter(pk=push_id, status__in=[PushStatus.QUEUED, PushStatus.RUNNING])
            .first()
        )
        if push is None:
            return "gone"  # deleted, or already finished
        # RUNNING: redelivered after its worker died (acks_late); pushing again is harmless, the
        # Hub skips files that have not changed.
        push.status, push.stage = PushStatus.RUNNING, "Preparing the files"
        push.save(update_fields=["status", "stage"])

    def on_stage(stage: str) -> None:
        HubPush.objects.filter(pk=push.pk).update(stage=stage)

    try:
        row = HubToken.objects.filter(user_id=push.requested_by_id).first()
        if row is None:
            raise hub.HubPushError("Your Hugging Face token was removed: save it again and push.")
        try:
            token = row.reveal()
        except CannotDecrypt as exc:
            raise hub.HubPushError(
                "Your saved Hugging Face token can no longer be read (the server's key changed): "
                "save it again and push."
            ) from exc
        repo_url, commit_url = hub.push(push, token, on_stage=on_stage)
    except hub.HubPushError as exc:
        HubPush.objects.filter(pk=push.pk).update(
            status=PushStatus.FAILED, stage="", error=str(exc), finished_at=timezone.now()
        )
        return "failed"
    except Exception:
        log.exception("hub push failed", extra={"push": push_id})
        HubPush.objects.filter(pk=push.pk).update(
            status=PushStatus.FAILED,
            stage="",
            error="The push failed unexpectedly. Try again; if it fails again, contact your administrator.",
            finished_at=timezone.now(),
        )
        return "failed"
    HubPush.objects.filter(pk=push.pk).update(
        status=PushStatus.SUCCEEDED,
        stage="",
        repo_url=repo_url,
        commit_url=commit_url,
        finished_at=timezone.now(),
    )
    return "succeeded"
