"""Inference endpoints: versions served behind them, API keys, and one row per API request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import dateformat, timezone

from vibeflow_site.disk import remove_after_commit

from .version import bump


def _bump_directory() -> None:
    bump()


# Changes that never affect who may call what: a key's last use is stamped by the gateway itself.
_NOT_ROUTING = {
    "last_used_at",
    "step",
    "detail",
    "deploy_seconds",
    "down_since",
    "failures",
    "last_checked_at",
    "error",
}


class DirectoryQuerySet(models.QuerySet):
    """update() and delete() tell the gateway's directory (gateway/directory.py) that cached
    lookups are stale; save() and delete() of single rows do it through signals below."""

    def update(self, **kwargs):
        count = super().update(**kwargs)
        if count and set(kwargs) - _NOT_ROUTING:
            _bump_directory()
        return count

    def delete(self):
        result = super().delete()
        _bump_directory()
        return result


class EndpointStatus(models.TextChoices):
    DEPLOYING = "deploying", "Deploying"
    LIVE = "live", "Live"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class Endpoint(models.Model):
    """What callers name in ``"model"``; it routes to one or two deployments by weight."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="endpoints"
    )
    # The model name callers send, unique within the project (keys belong to a project).
    name = models.SlugField(max_length=60)
    status = models.CharField(
        max_length=10, choices=EndpointStatus.choices, default=EndpointStatus.DEPLOYING
    )
    rate_limit_rpm = models.PositiveIntegerField(
        "Rate limit (requests per minute per key)",
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
    )
    tokens_per_minute = models.PositiveIntegerField(
        "Tokens per minute per key",
        validators=[MinValueValidator(1), MaxValueValidator(10_000_000)],
    )
    timeout_s = models.PositiveIntegerField(
        "Timeout (seconds)", validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    replicas = models.PositiveSmallIntegerField(
        "Model replicas", default=1, validators=[MinValueValidator(1), MaxValueValidator(8)]
    )
    # Autoscaling (autoscale.py): the replica count above follows the calls in flight, between
    # these bounds, aiming at ``target_in_flight`` calls per replica.
    autoscale = models.BooleanField("Autoscale replicas", default=False)
    min_replicas = models.PositiveSmallIntegerField(
        "Fewest replicas", default=1, validators=[MinValueValidator(1), MaxValueValidator(8)]
    )
    max_replicas = models.PositiveSmallIntegerField(
        "Most replicas", default=2, validators=[MinValueValidator(1), MaxValueValidator(8)]
    )
    target_in_flight = models.PositiveSmallIntegerField(
        "Calls in flight per replica",
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(256)],
    )
    # Production feedback (production.py): prompts and answers kept for this long, only when
    # the team turns it on; request logs without content stay as they are.
    log_content = models.BooleanField(
        "Keep prompts and answers",
        default=False,
        help_text="Keeps each call's prompt and answer so that low-scored calls and their "
        "corrections can become training data. Off by default.",
    )
    content_retention_days = models.PositiveSmallIntegerField(
        "Keep them for (days)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    # The dataset its production calls become versions of (made by the first build).
    production_dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # When its live server stopped answering (the outage's first failure seen in the rows); empty
    # while it answers. Kept on the row so "since when" holds still while the outage lasts, and
    # lists show it without reading any call.
    down_since = models.DateTimeField(null=True, blank=True)

    objects = DirectoryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="endpoint_name_per_project")
        ]

    def __str__(self):
        return self.name

    def badge(self) -> EndpointBadge:
        """``endpoint_badge`` from this endpoint's versions (lists that show many endpoints:
        ``prefetch_badges`` loads them for all at once)."""
        deployments = getattr(self, "badge_deployments", None)
        if deployments is None:
            deployments = self.deployments.exclude(status=DeploymentStatus.RETIRED).select_related(
                "run"
            )
        return endpoint_badge(self, deployments)

    def record_health(self, down_since: datetime | None) -> None:
        """Note that the endpoint stopped answering (``down_since``: the outage's first failure)
        or answers again (None). check_endpoints and the pages showing the endpoint all see the
        same outage: the first to see it sets the time and the others keep it (a conditional
        update), so "since" does not move while the outage lasts."""
        if down_since is None:
            if self.down_since is not None:
                Endpoint.objects.filter(pk=self.pk).update(down_since=None)
                self.down_since = None
        elif self.down_since is None:
            Endpoint.objects.filter(pk=self.pk, down_since__isnull=True).update(
                down_since=down_since
            )
            self.refresh_from_db(fields=["down_since"])


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEPLOYING = "deploying", "Deploying"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    RETIRED = "retired", "Retired"


# The deployment steps of docs/PRODUCT.md 6.2, in order; the task writes the index of the current one.
DEPLOY_STEPS = (
    "Packaging model",
    "Starting the inference server",
    "Deploying",
    "Initialising the API",
    "Running health checks",
)


class Deployment(models.Model):
    """One version (a training run's result) served behind an endpoint."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deployments")
    # CASCADE: deleting a project (and its runs) removes its endpoints' versions too.
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.CASCADE, related_name="deployments"
    )
    status = models.CharField(
        max_length=10, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED
    )
    step = models.PositiveSmallIntegerField(default=0)  # index into DEPLOY_STEPS
    detail = models.CharField(max_length=200, blank=True)
    # 1 for a first try; more when this version is tried again on this endpoint after failing.
    attempt = models.PositiveSmallIntegerField(default=1)
    # Share of the endpoint's traffic (0-100); the weights of an endpoint's ready deployments sum to 100.
    weight = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    # Made live as soon as its health check passes (a first deploy, an activation, a rollback).
    activate_when_ready = models.BooleanField(default=True)
    # A version trained on a GPU may be served on a CPU server when no GPU server holds its base
    # (slow; small bases only): the person deploying asks for it (placement.py).
    allow_cpu = models.BooleanField(default=False)
    # Served by a RunPod serverless endpoint made for it (GPUs on demand, scaled to zero when
    # idle) instead of the installation's servers: the person deploying asks for it.
    serverless = models.BooleanField(default=False)
    backend = models.CharField(max_length=20, blank=True)  # "transformers" or "vllm"
    server_url = models.CharField(max_length=300, blank=True)
    served_model = models.CharField(max_length=500, blank=True)  # the name the server knows
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    deploy_seconds = models.FloatField(null=True, blank=True)

    objects = DirectoryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.endpoint.name} ← run #{self.run.number}"

    @property
    def folder(self) -> Path:
        return Path(settings.DATA_DIR) / "serving" / str(self.pk)

    @property
    def is_active(self) -> bool:
        return self.status in (DeploymentStatus.QUEUED, DeploymentStatus.DEPLOYING)

    @property
    def steps(self) -> list[tuple[str, str]]:
        """(name, state) with state done / current / todo / failed, for the progress list."""
        out = []
        for index, name in enumerate(DEPLOY_STEPS):
            if self.status == DeploymentStatus.READY or index < self.step:
                state = "done"
            elif index == self.step:
                state = "failed" if self.status == DeploymentStatus.FAILED else "current"
            else:
                state = "todo"
            out.append((name, state))
        return out

    @property
    def percent(self) -> int:
        if self.status == DeploymentStatus.READY:
            return 100
        return int(100 * self.step / len(DEPLOY_STEPS))

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1

    @property
    def where(self) -> str:
        """Where this attempt stands, in the words of its steps list."""
        version = f"v{self.run.number}"
        if self.status == DeploymentStatus.QUEUED:
            return f"{version}: waiting its turn"
        name = DEPLOY_STEPS[min(self.step, len(DEPLOY_STEPS) - 1)]
        if self.status == DeploymentStatus.FAILED:
            return f"{version} failed at “{name}”"
        if self.status == DeploymentStatus.DEPLOYING:
            return f"{version}: step {self.step + 1} of {len(DEPLOY_STEPS)}, {name}"
        return version


def current_attempt(deployments) -> Deployment | None:
    """The attempt an endpoint's page is about: the newest one still deploying, else the newest
    version if it failed. ``deployments``: the endpoint's, newest first, retired ones left out."""
    deployments = list(deployments)
    active = next((d for d in deployments if d.is_active), None)
    if active is not None:
        return active
    if deployments and deployments[0].status == DeploymentStatus.FAILED:
        return deployments[0]
    return None


@dataclass(frozen=True)
class EndpointBadge:
    """What an endpoint's badge says: its state, then where its newest deployment attempt is."""

    tone: str  # live, down, deploying, failed, stopped
    label: str
    detail: str = ""

    @property
    def icon(self) -> str:
        return {"live": "🟢", "down": "🔴", "failed": "🔴", "stopped": "⚪"}.get(self.tone, "🟡")


def when(moment: datetime) -> str:
    """A time as the endpoint pages write it (their tables use the same format)."""
    return dateformat.format(timezone.localtime(moment), "M j H:i")


def endpoint_badge(endpoint: Endpoint, deployments, health=None) -> EndpointBadge:
    """The one rule for an endpoint's badge, drawn from the same rows as the steps list below it,
    so the two never disagree (a retry deploying is never shown as "Failed"). A live endpoint
    whose server stopped answering (``endpoint.down_since``) is never shown "Live"; ``health``
    (monitoring.endpoint_health) adds what callers got, where the page has read it."""
    deployments = list(deployments)
    live = any(d.status == DeploymentStatus.READY and d.weight > 0 for d in deployments)
    attempt = current_attempt(deployments)
    deploying = attempt is not None and attempt.is_active
    detail = ""
    if attempt is not None:
        detail = attempt.where + (" (retry)" if deploying and attempt.is_retry else "")
    if endpoint.status == EndpointStatus.STOPPED:
        return EndpointBadge("stopped", "Stopped", detail if deploying else "")
    if deploying and not live:
        label = "Deploying (retry)" if attempt.is_retry else "Deploying"
        return EndpointBadge("deploying", label, attempt.where)
    if live and endpoint.down_since is not None:
        why = health.why if health is not None and health.down else ""
        return EndpointBadge(
            "down",
            f"Not answering since {when(endpoint.down_since)}",
            "; ".join(part for part in (why, detail) if part),
        )
    if live:
        return EndpointBadge("live", "Live", detail)
    if attempt is not None:  # the newest version failed and nothing answers
        return EndpointBadge("failed", "Failed", detail)
    tone = {EndpointStatus.LIVE: "live", EndpointStatus.FAILED: "failed"}.get(
        endpoint.status, "deploying"
    )
    return EndpointBadge(tone, endpoint.get_status_display())


def prefetch_badges(project) -> None:
    """Load ``project.endpoints.all`` with the versions their badges read: two queries for any
    number of endpoints, not one more per endpoint (the endpoints list, the project's page and
    its live redraw)."""
    versions = Deployment.objects.exclude(status=DeploymentStatus.RETIRED).select_related("run")
    models.prefetch_related_objects(
        [project],
        models.Prefetch(
            "endpoints",
            queryset=Endpoint.objects.prefetch_related(
                models.Prefetch("deployments", queryset=versions, to_attr="badge_deployments")
            ),
        ),
    )


class ServerKind(models.TextChoices):
    CPU = "cpu", "CPU (transformers serve)"
    VLLM = "vllm", "GPU (vLLM)"
    # A RunPod serverless endpoint running RunPod's vLLM worker, made for one version
    # (runpod_serving.py): its workers start on calls and stop when idle.
    RUNPOD = "runpod", "RunPod serverless (vLLM)"


class ServerState(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    DOWN = "down", "Down"
    # Set by an operator: keeps what it serves until they have moved, takes nothing new.
    DRAINING = "draining", "Draining"


class InferenceServer(models.Model):
    """One inference server the gateway may route to. The run command's own server is a row
    (``servers.ensure_configured``); others are added in the admin or announce themselves
    (``POST /internal/servers/announce``). Servers are shared by every team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=ServerKind.choices, default=ServerKind.CPU)
    url = models.CharField("Address", max_length=300, unique=True)
    # vLLM: the base model it was started with (a hub id or a folder); only LoRA versions of it
    # can go there. Empty on a CPU server, which loads any merged model.
    base_model = models.CharField(max_length=300, blank=True)
    # Versions it holds at once: vLLM's --max-loras, or the CPU server's loaded models.
    capacity = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    # Calls it runs at once before the fair share applies (inflight.py).
    slots = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    state = models.CharField(
        max_length=10, choices=ServerState.choices, default=ServerState.HEALTHY
    )
    failures = models.PositiveSmallIntegerField(default=0)  # failed health checks in a row
    down_since = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)  # the last failure, for operators
    # RunPod serverless: the endpoint's id and its template's name at RunPod, and until when
    # its workers' time has been metered.
    external_id = models.CharField(max_length=100, blank=True)
    template_name = models.CharField(max_length=100, blank=True)
    metered_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DirectoryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.name or self.url

    @property
    def backend(self) -> str:
        """What the gateway's parameter table (gateway/parameters.py) calls this kind."""
        return "transformers" if self.kind == ServerKind.CPU else "vllm"


class ReplicaState(models.TextChoices):
    LOADING = "loading", "Loading"
    READY = "ready", "Ready"
    DOWN = "down", "Down"  # its server stopped answering; moved elsewhere when one has room
    FAILED = "failed", "Failed"


class Replica(models.Model):
    """A version loaded on one server. An endpoint with N replicas has its live version loaded
    on N servers; the gateway sends each call to the one with the fewest calls in flight."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replicas")
    server = models.ForeignKey(InferenceServer, on_delete=models.CASCADE, related_name="replicas")
    served_model = models.CharField(max_length=500)  # the name the server knows it by
    state = models.CharField(
        max_length=10, choices=ReplicaState.choices, default=ReplicaState.LOADING
    )
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    down_since = models.DateTimeField(null=True, blank=True)
    objects = DirectoryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "server"], name="one_replica_per_server")
        ]

    def __str__(self):
        return f"{self.deployment} on {self.server}"


class IncidentKind(models.TextChoices):
    DOWN = "down", "Not answering"
    ERRORS = "errors", "Failed calls"
    LATENCY = "latency", "Slow answers"


class Incident(models.Model):
    """An alert condition of an endpoint, from when it was first seen until it cleared. Its
    team's owners and admins are told once, when it opens (incidents.py)."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=10, choices=IncidentKind.choices)
    message = models.CharField(max_length=300)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open incident of a kind per endpoint: a second round cannot open it again.
            models.UniqueConstraint(
                fields=["endpoint", "kind"],
                condition=models.Q(closed_at__isnull=True),
                name="one_open_incident_per_kind",
            )
        ]

    def __str__(self):
        return f"{self.endpoint}: {self.get_kind_display()}"


class ScaleEvent(models.Model):
    """The autoscaler changed an endpoint's replica count, and the load that made it."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="scale_events")
    at = models.DateTimeField(default=timezone.now)
    before = models.PositiveSmallIntegerField()
    after = models.PositiveSmallIntegerField()
    # Calls in flight as measured: the mean over the scale-up window, or the peak over the
    # scale-down window; ``reason`` says which, in words shown on the endpoint page.
    load = models.FloatField()
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.endpoint}: {self.before} → {self.after}"


class ApiKey(models.Model):
    """A project's key: only its sha256 is stored; the whole key is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=20)  # "vf_live_" plus the first characters, for lists
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set on rotation: the old key keeps working until then.
    expires_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )

    objects = DirectoryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}…"


def call_failed(status_code: int, error_code: str) -> bool:
    """Whether a call failed on our side: the server's error (5xx), or a stream that began (the
    caller saw 200) and then ended with an error event. 4xx are the caller's mistakes (a bad key,
    a bad body, over its limits, hung up): no outage. ``FAILED_CALL`` is the same in SQL."""
    return status_code >= 500 or (status_code < 400 and bool(error_code))


FAILED_CALL = models.Q(status_code__gte=500) | (
    models.Q(status_code__lt=400) & ~models.Q(error_code="")
)
ANSWERED_CALL = models.Q(status_code__lt=400, error_code="")


def request_log_id(text: str) -> uuid.UUID | None:
    """A call's id as a caller quotes it: the ``x-request-id`` header, or the answer's own id
    (``chatcmpl-…``, ``cmpl-…``, ``req_…``), which carries the same id. None: no call has it."""
    for prefix in ("req_", "chatcmpl-", "cmpl-"):
        text = text.removeprefix(prefix)
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


class RequestLog(models.Model):
    """One API request through the gateway (or the page's test console, with no key). Its id is
    the ``x-request-id`` callers get."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="request_logs", null=True
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    # Which copy answered (the endpoint page's share of traffic per replica). Not a foreign
    # key: a replica dropped while its call's row waits to be written must not lose the row.
    replica_id = models.UUIDField(null=True, blank=True)
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    route = models.CharField(max_length=40)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=40, blank=True)
    latency_ms = models.FloatField()
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    streamed = models.BooleanField(default=False)
    from_console = models.BooleanField(default=False)
    # Caller feedback (POST /v1/feedback): 1 (bad) to 5 (good)
    feedback = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["endpoint", "created_at"])]

    def __str__(self):
        return f"{self.route} {self.status_code}"

    @property
    def failed(self) -> bool:
        return call_failed(self.status_code, self.error_code)


MAX_LOGGED_CHARS = 32_000  # per prompt or answer; longer ones are not kept


class LoggedCall(models.Model):
    """A call's prompt and answer, kept for endpoints that log content (off by default) until
    their retention ends (``purge_logged_calls``), with the correction its feedback gave."""

    request = models.OneToOneField(
        RequestLog, on_delete=models.CASCADE, primary_key=True, related_name="content"
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="logged_calls")
    messages = models.JSONField()  # the prompt, as chat messages
    answer = models.TextField()
    correction = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["endpoint", "created_at"])]

    def __str__(self):
        return f"content of {self.request_id}"


class HealthCheck(models.Model):
    """A periodic probe of a live endpoint's server (check_endpoints): with the calls, it makes the
    page's uptime and tells whether the endpoint answers (monitoring)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="health_checks")
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{'ok' if self.ok else 'failed'} at {self.created_at:%Y-%m-%d %H:%M}"


class PushStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Uploading"
    SUCCEEDED = "succeeded", "Pushed"
    FAILED = "failed", "Failed"


class HubPush(models.Model):
    """A version pushed to a Hugging Face model repository with the requesting user's token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.CASCADE, related_name="hub_pushes"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    repo_id = models.CharField(max_length=200, help_text="namespace/name on the Hub")
    private = models.BooleanField(default=True)
    merged = models.BooleanField(default=False, help_text="Base + adapter merged, not the adapter")
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.QUEUED)
    stage = models.CharField(max_length=80, blank=True)
    repo_url = models.URLField(blank=True)
    commit_url = models.URLField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.run} → {self.repo_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (PushStatus.QUEUED, PushStatus.RUNNING)


@receiver([post_save, post_delete], sender=ApiKey)
@receiver([post_save, post_delete], sender=Endpoint)
@receiver([post_save, post_delete], sender=Deployment)
@receiver([post_save, post_delete], sender=InferenceServer)
@receiver([post_save, post_delete], sender=Replica)
def _directory_changed(sender, update_fields=None, **kwargs):
    if update_fields and not set(update_fields) - _NOT_ROUTING:
        return
    _bump_directory()


@receiver(post_delete, sender=Deployment)
def _remove_deployment_files(sender, instance, **kwargs):
    remove_after_commit(instance.folder)
