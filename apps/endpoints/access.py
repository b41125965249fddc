from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.accounts.access import get_membership, require_write
from apps.accounts.models import Membership

from .models import ApiKey, Deployment, Endpoint


def _get(queryset, pk):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def get_endpoint_for_user(user, endpoint_id, *, write: bool = False) -> tuple[Endpoint, Membership]:
    """Another team's endpoint is a 404, like every object of this product."""
    endpoint = _get(Endpoint.objects.select_related("project__team"), endpoint_id)
    membership = get_membership(user, endpoint.project.team_id)
    if write:
        require_write(membership)
    return endpoint, membership


def get_deployment_for_user(
    user, deployment_id, *, write: bool = False
) -> tuple[Deployment, Membership]:
    deployment = _get(
        Deployment.objects.select_related("endpoint__project__team", "run"), deployment_id
    )
    membership = get_membership(user, deployment.endpoint.project.team_id)
    if write:
        require_write(membership)
    return deployment, membership


def get_key_for_user(user, key_id, *, write: bool = False) -> tuple[ApiKey, Membership]:
    key = _get(ApiKey.objects.select_related("project__team"), key_id)
    membership = get_membership(user, key.project.team_id)
    if write:
        require_write(membership)
    return key, membership
