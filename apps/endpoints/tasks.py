"""The endpoints app's Celery tasks, thin: each takes ids and calls a plain function. Deploying a
version and building a merged download go to the `gpu` queue (they load models); probing live
endpoints and pushing to the Hub stay on `default` (vibeflow_site/settings.py, CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from . import autoscale as autoscaling
from . import (
    exports,
    hub,
    incidents,
    placement,
    probes,
    production,
    runpod_serving,
    servers,
    serving,
)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def serve_deployment(deployment_id: str) -> str:
    return serving.serve(deployment_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def serve_replica(replica_id: str) -> str:
    return serving.serve_replica(replica_id)


@shared_task
def check_servers() -> dict:
    return servers.check_all() | placement.reconcile() | {"runpod_deleted": runpod_serving.sweep()}


@shared_task
def reconcile_replicas(endpoint_id: str | None = None) -> dict:
    return placement.reconcile(endpoint_id)


@shared_task
def autoscale() -> dict:
    return autoscaling.run()


@shared_task
def check_endpoints() -> int:
    return probes.check_live()


@shared_task
def tell_incident(incident_id: int) -> int:
    return incidents.tell(incident_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_merged(run_id: str) -> str:
    return exports.prepare_merged(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_gguf(run_id: str, kind: str) -> str:
    return exports.prepare_gguf(run_id, kind)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def push_to_hub(push_id: str) -> str:
    return hub.run_push(push_id)


@shared_task
def purge_logged_calls() -> int:
    """Kept prompts and answers past their endpoint's retention are deleted."""
    return production.purge()
