"""Who may call what: key → project → endpoint → live deployments, cached in each web process.

Looking these up costs a hop to the database thread and three queries, most of what the gateway
adds to a call. Each process keeps what it looked up, stamped with a version number kept in
Redis; every change to a key, an endpoint, a deployment or a team's limits bumps that number
(``apps.endpoints.version.bump``: the models' save/delete signals and their querysets'
update/delete, and billing's ``limits_changed``), and
the gateway reads it in the same Redis round trip as the rate limit. A revoked key therefore fails
on the next request in every process, with no query at all while nothing changes.

The number is bumped at once and again after the transaction commits: a request that reads the
database between the two may cache what is about to change, and the second bump retires it.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Prefetch

from apps.billing.metering import account_for

from ..models import (
    ApiKey,
    Deployment,
    DeploymentStatus,
    Endpoint,
    Replica,
    ReplicaState,
    ServerKind,
    ServerState,
)
from ..version import bump  # noqa: F401  (the tests and the gateway call directory.bump)

MAX_ENTRIES = 10_000

_entries: OrderedDict = OrderedDict()


@dataclass(frozen=True)
class Route:
    """One replica of a version: where calls for it go."""

    replica_id: uuid.UUID | None  # None: a version served before replicas were rows
    url: str
    served_model: str
    slots: int  # calls the server runs at once before the fair share applies
    # The Authorization header the server wants (a RunPod endpoint's key); kept out of reprs.
    auth: str = field(default="", repr=False)


def routes_of(deployment: Deployment) -> tuple[Route, ...]:
    """The version's replicas taking calls: ready, on servers that are not down. When every
    one is down, those loaded still get the calls (a refused connection is a fast 502, and a
    server restarting answers again before any health round has seen it). A version with no
    replica rows at all is served where it was loaded (``server_url``)."""
    replicas = deployment.all_replicas
    if not replicas:
        if not deployment.server_url:
            return ()
        slots = settings.INFERENCE_SERVER_SLOTS
        return (Route(None, deployment.server_url, deployment.served_model, slots),)
    answering = [
        r for r in replicas if r.state == ReplicaState.READY and r.server.state != ServerState.DOWN
    ]
    loaded = answering or [
        r for r in replicas if r.state in (ReplicaState.READY, ReplicaState.DOWN)
    ]
    return tuple(
        Route(r.pk, r.server.url, r.served_model, r.server.slots, auth=_auth(r.server))
        for r in loaded
    )


def _auth(server) -> str:
    if server.kind == ServerKind.RUNPOD:
        return f"Bearer {settings.RUNPOD_API_KEY}"
    return ""


@dataclass(frozen=True)
class Entry:
    key: object  # ApiKey | None
    endpoint: object  # Endpoint | None
    live: tuple  # the endpoint's deployments taking traffic, each with its ``routes``
    plan_rpm: int | None = None  # the team's plan caps every key's requests per minute
    spending_stopped: bool = False  # over the team's budget without overage allowed: 402


def _fetch(key_hash, project_id, name, want_endpoint) -> Entry:
    key = None
    if key_hash is not None:
        key = ApiKey.objects.filter(key_hash=key_hash).first()
        if key is None:
            return Entry(None, None, ())
        project_id = key.project_id
    if not want_endpoint:
        return Entry(key, None, ())
    endpoints = Endpoint.objects.filter(project_id=project_id).select_related("project")
    endpoint = (endpoints.filter(name=name) if name else endpoints).first()
    live = ()
    if endpoint is None:
        return Entry(key, None, live)
    live = tuple(
        Deployment.objects.filter(endpoint=endpoint, status=DeploymentStatus.READY, weight__gt=0)
        .select_related("run")  # the run: where its tokenizer is (tokens.py)
        .prefetch_related(
            Prefetch(
                "replicas",
                queryset=Replica.objects.select_related("server"),
                to_attr="all_replicas",
            )
        )
    )
    for deployment in live:
        deployment.routes = routes_of(deployment)
    account = account_for(endpoint.project.team_id)
    return Entry(
        key,
        endpoint,
        live,
        plan_rpm=account.effective_plan.rate_limit_rpm,
        spending_stopped=account.spending_stopped_at is not None and not account.allow_overage,
    )


async def lookup(key_hash, project_id, name, want_endpoint, version: bytes) -> Entry:
    cache_key = (key_hash, project_id, name, want_endpoint)
    hit = _entries.get(cache_key)
    if version and hit is not None and hit[0] == version:
        _entries.move_to_end(cache_key)
        return hit[1]
    entry = await sync_to_async(_fetch)(key_hash, project_id, name, want_endpoint)
    if not version:
        return entry  # no version in Redis yet (or it lost its data): nothing to cache against
    _entries[cache_key] = (version, entry)
    if len(_entries) > MAX_ENTRIES:
        _entries.popitem(last=False)
    return entry
