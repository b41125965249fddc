"""Training on a RunPod GPU: start a pod, serve it the job over the run's internal endpoints, end it.

1. `launch_on_runpod` (default queue, returns at once): claims the queued run (→ provisioning),
   mints the run's bearer token (only its sha256 is stored), and creates a pod through the
   runpod SDK with the GPU worker image, the GPU type of the run's hardware and two variables:
   where to call back and the token. The pod runs `python -m workers.remote`.
2. The pod fetches the spec and the data, trains, and posts its events; `remote_views.py` turns
   them into the same records a local run writes (first event: provisioning → running), answers
   each batch with the stop flag, stores the uploaded adapter and takes the result.
3. `finish_remote` reads the pod's uptime (RunPod's accounting of what is billed), records it as
   the run's GPU seconds, terminates the pod and revokes the token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.billing.metering import record_run
from vibeflow_site.runpod_sdk import sdk

from .models import RunStatus, TrainingRun
from .reporting import append_log
from .runner import fail_run

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _runpod():
    return sdk()  # create/terminate read the module's key


def _claim(run_id) -> tuple[TrainingRun, str] | None:
    with transaction.atomic():
        run = (
            TrainingRun.objects.select_for_update(of=("self",))
            .select_related("hardware", "project")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status != RunStatus.QUEUED:
            return None
        token = secrets.token_urlsafe(32)
        TrainingRun.objects.filter(pk=run.pk).update(
            remote_token_hash=token_hash(token),
            stop_requested=False,
            error="",
            heartbeat_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
        run.transition(RunStatus.PROVISIONING)
        return run, token


def launch(run_id: str) -> str:
    """Claim a queued RunPod run and start its pod (tasks.launch_on_runpod)."""
    claimed = _claim(run_id)
    if claimed is None:
        return "skipped"
    run, token = claimed
    callback = f"{settings.VIBEFLOW_PUBLIC_URL}/internal/runs/{run.pk}/"
    append_log(run, f"Starting a RunPod pod with an {run.hardware.name}")
    try:
        pod = _runpod().create_pod(
            name=f"vibeflow-{run.project.name[:30]}-v{run.number}",
            image_name=settings.RUNPOD_WORKER_IMAGE,
            gpu_type_id=run.hardware.runpod_gpu_id,
            cloud_type="SECURE",
            container_disk_in_gb=40,
            docker_args="python -m workers.remote",
            env={"VIBEFLOW_CALLBACK_URL": callback, "VIBEFLOW_RUN_TOKEN": token},
        )
    except Exception as exc:  # the SDK raises its own errors, ValueError and requests' errors
        TrainingRun.objects.filter(pk=run.pk).update(remote_token_hash="")
        return fail_run(run, f"RunPod could not start a pod: {exc}")
    TrainingRun.objects.filter(pk=run.pk).update(remote_pod_id=pod["id"])
    append_log(run, f"Pod {pod['id']} is starting; training begins when it calls back")
    return "launched"


def finish(run_id: str) -> str:
    """Record the pod's billed uptime as GPU seconds, terminate it, revoke the token
    (tasks.finish_remote)."""
    run = TrainingRun.objects.get(pk=run_id)
    TrainingRun.objects.filter(pk=run.pk).update(remote_token_hash="")
    if not run.remote_pod_id:
        return "no pod"
    runpod = _runpod()
    uptime = 0.0
    try:
        pod = runpod.get_pod(run.remote_pod_id) or {}
        uptime = float(pod.get("uptimeSeconds") or 0)
    finally:
        runpod.terminate_pod(run.remote_pod_id)
        # Billed from RunPod's uptime; without it (the pod could not be read), from the run's
        # own start and end.
        with transaction.atomic():
            if uptime:
                TrainingRun.objects.filter(pk=run.pk).update(gpu_seconds=uptime)
            record_run(TrainingRun.objects.select_related("project", "hardware").get(pk=run.pk))
    append_log(
        run,
        f"Pod {run.remote_pod_id} terminated after {uptime:.0f} s of GPU time (RunPod's uptime)",
    )
    return "terminated"
