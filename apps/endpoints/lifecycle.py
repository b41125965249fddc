"""A deployment's outcome, as the serving task records it: live (its health check passed) or
failed with a sentence for users."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Deployment, DeploymentStatus, Endpoint, EndpointStatus
from .project_status import sync_project_status


def went_live(deployment: Deployment) -> None:
    """The health check passed: route traffic to it if it was asked to go live."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=deployment.endpoint_id)
        deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if deployment.status == DeploymentStatus.RETIRED:
            return  # deleted while its check ran
        now = timezone.now()
        deployment.status, deployment.ready_at = DeploymentStatus.READY, now
        fields = ["status", "ready_at", "activate_when_ready", "weight", "activated_at"]
        if deployment.activate_when_ready:
            endpoint.deployments.exclude(pk=deployment.pk).update(weight=0)
            deployment.weight, deployment.activated_at = 100, now
        deployment.activate_when_ready = False
        deployment.save(update_fields=fields)
        if endpoint.status in (EndpointStatus.DEPLOYING, EndpointStatus.FAILED):
            endpoint.status = EndpointStatus.LIVE
            endpoint.save(update_fields=["status"])
        sync_project_status(endpoint.project_id)


def deploy_failed(deployment: Deployment, reason: str, detail: str = "") -> None:
    """``reason`` is shown to users; ``detail``, the operator's version, replaces the failed
    step's detail (seen in the admin, never on the page)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=deployment.endpoint_id)
        fields = {"detail": detail[:200]} if detail else {}
        Deployment.objects.filter(pk=deployment.pk).update(
            status=DeploymentStatus.FAILED,
            error=reason,
            activate_when_ready=False,
            weight=0,
            **fields,
        )
        live = endpoint.deployments.filter(status=DeploymentStatus.READY, weight__gt=0).exists()
        trying = (
            endpoint.deployments.exclude(pk=deployment.pk)
            .filter(status__in=[DeploymentStatus.QUEUED, DeploymentStatus.DEPLOYING])
            .exists()
        )
        if not live and not trying and endpoint.status == EndpointStatus.DEPLOYING:
            endpoint.status = EndpointStatus.FAILED
            endpoint.save(update_fields=["status"])
        sync_project_status(endpoint.project_id)
