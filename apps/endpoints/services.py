"""Deploying versions and moving traffic between them; every change in one transaction."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.billing.metering import account_for
from apps.training.models import RunStatus

from .lifecycle import deploy_failed, went_live  # noqa: F401  (part of this module's API)
from .models import Deployment, DeploymentStatus, Endpoint, EndpointStatus, HubPush
from .project_status import sync_project_status
from .tasks import push_to_hub, reconcile_replicas, serve_deployment


class NotDeployable(Exception):
    """A sentence saying why this version cannot be deployed (or this change made)."""


def deploy_problem(run) -> str | None:
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.STOPPED):
        return "Only a finished training run (succeeded, or stopped with a checkpoint) can be deployed."
    if not run.adapter_dir or not Path(run.adapter_dir).is_dir():
        return "This run left no model to deploy (its adapter folder is missing)."
    return None


def default_name(project) -> str:
    base = slugify(project.name)[:50] or "model"
    name, n = base, 2
    while Endpoint.objects.filter(project=project, name=name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def _queue(deployment: Deployment) -> None:
    """Deploy after commit. An endpoint whose last try failed is deploying again from now on:
    its status said "Failed" for the whole of a retry."""
    Endpoint.objects.filter(pk=deployment.endpoint_id, status=EndpointStatus.FAILED).update(
        status=EndpointStatus.DEPLOYING
    )
    transaction.on_commit(lambda: serve_deployment.delay(str(deployment.pk)))


def deploy_run(
    run,
    user,
    endpoint: Endpoint | None = None,
    allow_cpu: bool = False,
    serverless: bool = False,
) -> Deployment:
    """Serve ``run`` behind ``endpoint`` (a new one when None); it takes the traffic once healthy.
    ``allow_cpu``: a GPU-trained version may go to a CPU server (placement.py); ``serverless``:
    on a RunPod serverless endpoint of its own (runpod_serving.py)."""
    problem = deploy_problem(run)
    if problem:
        raise NotDeployable(problem)
    with transaction.atomic():
        if endpoint is None:
            endpoint = Endpoint.objects.create(
                project=run.project,
                name=default_name(run.project),
                # The plan's limit per key (docs/PRODUCT.md "Plans": Free 100/min, Pro 1,000); lower it on the page.
                rate_limit_rpm=account_for(run.project.team_id).effective_plan.rate_limit_rpm,
                tokens_per_minute=settings.ENDPOINT_DEFAULT_TPM,
                timeout_s=settings.GATEWAY_TIMEOUT_S,
                created_by=user,
            )
        existing = endpoint.deployments.filter(
            run=run,
            status__in=[
                DeploymentStatus.READY,
                DeploymentStatus.QUEUED,
                DeploymentStatus.DEPLOYING,
            ],
        ).first()
        if existing and existing.status == DeploymentStatus.READY and existing.weight == 100:
            return existing  # already live and taking all the traffic
        if existing:
            return activate(existing)
        failed_before = endpoint.deployments.filter(run=run, status=DeploymentStatus.FAILED)
        deployment = Deployment.objects.create(
            endpoint=endpoint,
            run=run,
            created_by=user,
            attempt=failed_before.count() + 1,
            allow_cpu=allow_cpu,
            serverless=serverless,
        )
        _queue(deployment)
        sync_project_status(endpoint.project_id)
    return deployment


def activate(deployment: Deployment) -> Deployment:
    """Activate or roll back to a version: its server is health-checked again first, and the
    traffic moves only when that passes, so callers never meet a gap."""
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if deployment.status == DeploymentStatus.RETIRED:
            raise NotDeployable("This version was deleted; deploy its run again.")
        if deployment.status == DeploymentStatus.READY and deployment.weight == 100:
            return deployment  # already the whole endpoint: re-checking it would leave a gap
        deployment.activate_when_ready = True
        if deployment.status == DeploymentStatus.FAILED:
            deployment.attempt += 1
        if deployment.status in (DeploymentStatus.READY, DeploymentStatus.FAILED):
            deployment.status, deployment.step, deployment.error = DeploymentStatus.QUEUED, 0, ""
            _queue(deployment)
        deployment.save(update_fields=["activate_when_ready", "status", "step", "error", "attempt"])
        sync_project_status(deployment.endpoint.project_id)
    return deployment


def start_ab(endpoint: Endpoint, candidate: Deployment, weight: int) -> None:
    """Send ``weight``% of the traffic to ``candidate``, the rest to the active version."""
    if not 1 <= weight <= 99:
        raise NotDeployable("The share for version B must be between 1% and 99%.")
    with transaction.atomic():
        deployments = list(
            endpoint.deployments.select_for_update().filter(status=DeploymentStatus.READY)
        )
        active = max(
            (d for d in deployments if d.weight > 0 and d.pk != candidate.pk),
            key=lambda d: d.weight,
            default=None,
        )
        if candidate.pk not in {d.pk for d in deployments}:
            raise NotDeployable("Version B must be deployed and healthy before it takes traffic.")
        if active is None:
            raise NotDeployable("The endpoint has no active version to compare against.")
        for d in deployments:
            d.weight = 100 - weight if d.pk == active.pk else weight if d.pk == candidate.pk else 0
            d.save(update_fields=["weight"])


def end_ab(endpoint: Endpoint, keep: Deployment) -> None:
    """ "Switch to B" keeps B, "End test" keeps A: all traffic to ``keep``."""
    with transaction.atomic():
        Endpoint.objects.select_for_update().get(pk=endpoint.pk)  # one traffic change at a time
        kept = Deployment.objects.filter(
            pk=keep.pk, endpoint=endpoint, status=DeploymentStatus.READY
        ).update(weight=100, activated_at=timezone.now())
        if not kept:
            raise NotDeployable("That version is not healthy.")
        endpoint.deployments.exclude(pk=keep.pk).update(weight=0)


def ab_pair(endpoint: Endpoint) -> list[Deployment]:
    """The versions sharing traffic, largest share first (A, then B); one when no test runs."""
    return list(
        endpoint.deployments.filter(status=DeploymentStatus.READY, weight__gt=0)
        .select_related("run")
        .order_by("-weight", "activated_at")
    )


def set_stopped(endpoint: Endpoint, stopped: bool) -> None:
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        if stopped:
            endpoint.status, endpoint.stopped_at = EndpointStatus.STOPPED, timezone.now()
        else:
            live = endpoint.deployments.filter(status=DeploymentStatus.READY, weight__gt=0).exists()
            endpoint.status = EndpointStatus.LIVE if live else EndpointStatus.DEPLOYING
            endpoint.stopped_at = None
        endpoint.save(update_fields=["status", "stopped_at"])
        sync_project_status(endpoint.project_id)


def delete_version(deployment: Deployment) -> None:
    if deployment.weight > 0:
        raise NotDeployable("This version takes traffic; activate another before deleting it.")
    if deployment.is_active:
        raise NotDeployable("This version is still deploying.")
    retired = (
        Deployment.objects.filter(pk=deployment.pk, weight=0)
        .exclude(status__in=[DeploymentStatus.QUEUED, DeploymentStatus.DEPLOYING])
        .update(status=DeploymentStatus.RETIRED)
    )
    if not retired:
        raise NotDeployable("This version changed meanwhile; reload the page.")


def queue_hub_push(run, user, choice: dict):
    """A HubPush row and its task (after commit). choice: the push form's cleaned data."""
    push = HubPush.objects.create(
        run=run,
        requested_by=user,
        repo_id=choice["repo_id"],
        private=choice["private"],
        merged=choice["merged"],
    )
    push_to_hub.delay_on_commit(str(push.pk))
    return push


def reconcile_later(endpoint: Endpoint) -> None:
    """Load the live version onto more servers, or free some, to match the endpoint's replica
    count (placement.reconcile), once the change is committed."""
    transaction.on_commit(lambda: reconcile_replicas.delay(str(endpoint.pk)))
