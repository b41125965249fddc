"""Deploying a version onto the inference server: claim the deployment (the status is the lock),
walk its five steps, and end it live or failed with a sentence. `tasks.serve_deployment` calls
`serve`."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.training.weights import model_source
from workers.serving import ServerError, health_check, load_lora_adapter, load_model, package_merged
from workers.serving.merge import is_adapter
from workers.serving.server import wait_for_server
from workers.training.engine import resolve_model_dir

from . import lifecycle
from .models import Deployment, DeploymentStatus

log = logging.getLogger(__name__)


def merged_dir(run) -> Path:
    """One merged copy per version, shared by every endpoint that serves it."""
    return Path(settings.DATA_DIR) / "serving" / "runs" / str(run.pk)


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


def serve(deployment_id: str) -> str:
    """The five steps of docs/PRODUCT.md 6.2; the route goes live only after a real completion passes."""
    deployment = claim(deployment_id)
    if deployment is None:
        return "skipped"
    started = time.monotonic()
    run = deployment.run
    backend, url = settings.INFERENCE_BACKEND, settings.INFERENCE_SERVER_URL
    try:
        step(
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
            base_dir = resolve_model_dir(model_source(run.base_model))
            served = str(package_merged(base_dir, run.adapter_dir, merged_dir(run)))
        step(deployment, 1)
        wait_for_server(url, settings.SERVING_START_TIMEOUT_S)
        step(deployment, 2, "Loading the model into the server")
        if backend == "vllm":
            load_lora_adapter(url, served, run.adapter_dir)
        else:
            load_model(url, served)
        step(deployment, 3)
        Deployment.objects.filter(pk=deployment.pk).update(
            backend=backend, server_url=url, served_model=served
        )
        step(deployment, 4, "A real completion through the server")
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
