"""Endpoint pages: deploy, progress, keys, settings, versions, A/B, logs and the test console."""

from __future__ import annotations

import json
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import HubToken
from apps.evaluations.models import EvalStatus
from apps.evaluations.summary import verdict
from apps.projects.access import get_project_for_user
from apps.training.access import get_run_for_user

from . import exports, hub, monitoring, production, servers, services
from . import keys as api_keys
from .access import get_deployment_for_user, get_endpoint_for_user, get_key_for_user
from .forms import (
    AbTestForm,
    AnnounceForm,
    BuildDatasetForm,
    DeployForm,
    EndpointSettingsForm,
    HubPushForm,
    KeyCreateForm,
    RotateKeyForm,
    grace_label,
)
from .gateway.calls import Call, price_per_token
from .gateway.proxy import proxy
from .models import (
    FAILED_CALL,
    DeploymentStatus,
    RequestLog,
    current_attempt,
    endpoint_badge,
    prefetch_badges,
    request_log_id,
)
from .tasks import export_gguf, export_merged

LOGS_PER_PAGE = 50
RECENT_CALLS_SHOWN = 10
SCALE_EVENTS_SHOWN = 10
INCIDENTS_SHOWN = 10


def _scores(deployments) -> dict:
    """The latest finished evaluation's quality score of each version's run."""
    out = {}
    for d in deployments:
        evaluation = d.run.evaluations.filter(status=EvalStatus.SUCCEEDED).first()
        if evaluation:
            out[d.pk] = verdict(evaluation.result)["score"]
    return out


def _with_state(key_rows):
    now = timezone.now()
    rows = list(key_rows)
    for key in rows:
        key.state = api_keys.key_state(key, now)
    return rows


def _keys_context(project) -> dict:
    """What the keys section needs. Keys belong to the project, not to an endpoint, so the
    project's endpoints page shows them too: a key made before anything was deployed must still
    be on a page where it can be rotated and revoked."""
    return {
        "keys": _with_state(project.api_keys.all()),
        "key_form": KeyCreateForm(),
        "rotate_form": RotateKeyForm(),
    }


def _context(request, endpoint, membership, **extra):
    deployments = list(
        endpoint.deployments.exclude(status=DeploymentStatus.RETIRED).select_related(
            "run__base_model"
        )
    )
    per_version = monitoring.per_version(endpoint)
    scores = _scores(deployments)
    for d in deployments:
        d.stats = per_version.get(d.pk, monitoring.Stats())
        d.score = scores.get(d.pk)
    pair = [d for d in deployments if d.status == DeploymentStatus.READY and d.weight > 0]
    pair.sort(key=lambda d: -d.weight)
    project = endpoint.project
    health = monitoring.note_health(endpoint)
    return {
        "endpoint": endpoint,
        "project": project,
        "membership": membership,
        "deployments": deployments,
        # The badge, the steps list and the versions table: one read of the rows.
        "attempt": current_attempt(deployments),
        "health": health,
        "badge": endpoint_badge(endpoint, deployments, health),
        "calls": RequestLog.objects.filter(endpoint=endpoint).select_related("deployment__run")[
            :RECENT_CALLS_SHOWN
        ],
        "ab": pair if len(pair) > 1 else None,
        "active": pair[0] if pair else None,
        "api_base": request.build_absolute_uri("/v1"),
        **_keys_context(project),
        "today": monitoring.today_stats(endpoint),
        "stats": monitoring.endpoint_stats(endpoint),
        "settings_form": EndpointSettingsForm(instance=endpoint),
        "replicas": monitoring.replica_rows(endpoint, pair),
        "scale_events": endpoint.scale_events.all()[:SCALE_EVENTS_SHOWN],
        "incidents": endpoint.incidents.all()[:INCIDENTS_SHOWN],
        "ab_form": AbTestForm(endpoint=endpoint),
        "price_per_1k": price_per_token() * 1000,
        "low_scored": production.low_scored(endpoint) if endpoint.log_content else [],
        "build_form": BuildDatasetForm(),
        **extra,
    }


@login_required
@require_GET
def project_endpoints(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    prefetch_badges(project)
    return render(
        request,
        "endpoints/list.html",
        {
            "project": project,
            "membership": membership,
            "endpoints": project.endpoints.all(),
            **_keys_context(project),
        },
    )


@login_required
@require_POST
def run_deploy(request, run_id):
    run, _ = get_run_for_user(request.user, run_id, write=True)
    form = DeployForm(request.POST, project=run.project)
    if not form.is_valid():
        problems = [e for field in ("serverless",) for e in form.errors.get(field, [])]
        messages.error(
            request,
            problems[0] if problems else "Choose one of this project's endpoints, or a new one.",
        )
        return redirect("run_config", run_id=run.pk)
    try:
        deployment = services.deploy_run(
            run,
            request.user,
            form.cleaned_data["endpoint"],
            allow_cpu=form.cleaned_data["allow_cpu"],
            serverless=form.cleaned_data["serverless"],
        )
    except services.NotDeployable as exc:
        messages.error(request, str(exc))
        return redirect("run_config", run_id=run.pk)
    return redirect("endpoint_detail", endpoint_id=deployment.endpoint_id)


@login_required
@require_GET
def endpoint_detail(request, endpoint_id):
    endpoint, membership = get_endpoint_for_user(request.user, endpoint_id)
    if request.htmx and request.GET.get("part") == "health":
        return _health_part(request, endpoint)
    return render(request, "endpoints/detail.html", _context(request, endpoint, membership))


def _health_part(request, endpoint) -> HttpResponse:
    """Polled while the page is open on a live endpoint: whether it answers, and the badge
    (swapped out of band), so an outage and a recovery show without a reload."""
    health = monitoring.note_health(endpoint)
    deployments = endpoint.deployments.exclude(status=DeploymentStatus.RETIRED).select_related(
        "run"
    )
    context = {
        "endpoint": endpoint,
        "health": health,
        "badge": endpoint_badge(endpoint, deployments, health),
        "oob": True,
    }
    return HttpResponse(
        render_to_string("endpoints/_health.html", context, request=request)
        + render_to_string("endpoints/_badge.html", context, request=request)
    )


@login_required
@require_GET
def deployment_progress(request, deployment_id):
    """Polled while a version deploys: its steps, and the page's badge (swapped out of band),
    both from one read of the endpoint's versions; reloads the page once it ends."""
    deployment, _ = get_deployment_for_user(request.user, deployment_id)
    endpoint = deployment.endpoint
    deployments = list(
        endpoint.deployments.exclude(status=DeploymentStatus.RETIRED).select_related("run")
    )
    deployment = next((d for d in deployments if d.pk == deployment.pk), deployment)
    html = render_to_string(
        "endpoints/_progress.html", {"deploying": deployment}, request=request
    ) + render_to_string(
        "endpoints/_badge.html",
        {"badge": endpoint_badge(endpoint, deployments), "oob": True},
        request=request,
    )
    response = HttpResponse(html)
    if not deployment.is_active:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def endpoint_settings(request, endpoint_id):
    endpoint, membership = get_endpoint_for_user(request.user, endpoint_id, write=True)
    form = EndpointSettingsForm(request.POST, instance=endpoint)
    if form.is_valid():
        form.save()
        if "log_content" in form.changed_data and not endpoint.log_content:
            forgotten = production.forget(endpoint)
            messages.info(
                request,
                f"Prompts and answers are no longer kept; the {forgotten} kept so far were "
                "deleted.",
            )
        if {"replicas", "autoscale", "min_replicas", "max_replicas"} & set(form.changed_data):
            services.reconcile_later(endpoint)
            messages.success(
                request,
                f"Settings saved. Replicas: {endpoint.replicas}; the live version is being "
                "loaded onto or removed from servers to match.",
            )
            return redirect("endpoint_detail", endpoint_id=endpoint.pk)
        messages.success(request, "Settings saved; they apply to the next request.")
        return redirect("endpoint_detail", endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    context = _context(request, endpoint, membership, settings_form=form)
    return render(request, "endpoints/detail.html", context, status=400)


@login_required
@require_POST
def endpoint_build_dataset(request, endpoint_id):
    """Chosen production calls become a new dataset version, analysed like an upload."""
    endpoint, membership = get_endpoint_for_user(request.user, endpoint_id, write=True)
    form = BuildDatasetForm(request.POST)
    if not form.is_valid():
        messages.error(request, next(iter(form.errors.values()))[0])
        return redirect("endpoint_detail", endpoint_id=endpoint.pk)
    try:
        built = production.build(
            endpoint, request.user, form.cleaned_data["selection"], form.cleaned_data.get("day")
        )
    except production.NothingToBuild as exc:
        messages.error(request, str(exc))
        return redirect("endpoint_detail", endpoint_id=endpoint.pk)
    messages.success(
        request,
        f"{built.rows} production call{'s' if built.rows != 1 else ''} became version "
        f"{built.version.number} of “{built.version.dataset.name}”; it is being checked now.",
    )
    return redirect("version_detail", version_id=built.version.pk)


@login_required
@require_POST
def endpoint_stop(request, endpoint_id):
    endpoint, _ = get_endpoint_for_user(request.user, endpoint_id, write=True)
    stop = request.POST.get("action") != "start"
    services.set_stopped(endpoint, stop)
    messages.success(
        request,
        "Endpoint stopped: requests now get 503 until you start it again."
        if stop
        else "Endpoint started.",
    )
    return redirect("endpoint_detail", endpoint_id=endpoint.pk)


@login_required
@require_POST
def deployment_activate(request, deployment_id):
    deployment, _ = get_deployment_for_user(request.user, deployment_id, write=True)
    try:
        services.activate(deployment)
    except services.NotDeployable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"v{deployment.run.number} takes the traffic as soon as its health check passes; "
            "the current version serves until then.",
        )
    return redirect("endpoint_detail", endpoint_id=deployment.endpoint_id)


@login_required
@require_POST
def deployment_delete(request, deployment_id):
    deployment, _ = get_deployment_for_user(request.user, deployment_id, write=True)
    try:
        services.delete_version(deployment)
    except services.NotDeployable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"v{deployment.run.number} removed from this endpoint.")
    return redirect("endpoint_detail", endpoint_id=deployment.endpoint_id)


@login_required
@require_POST
def endpoint_ab(request, endpoint_id):
    endpoint, _ = get_endpoint_for_user(request.user, endpoint_id, write=True)
    action = request.POST.get("action", "start")
    try:
        if action == "start":
            form = AbTestForm(request.POST, endpoint=endpoint)
            if not form.is_valid():
                raise services.NotDeployable(
                    "Choose a healthy version that takes no traffic yet, and a share from 1 to 99%."
                )
            services.start_ab(endpoint, form.cleaned_data["candidate"], form.cleaned_data["weight"])
            messages.success(request, "A/B test started.")
        elif action in ("switch", "end"):
            pair = services.ab_pair(endpoint)
            if len(pair) < 2:
                raise services.NotDeployable("No A/B test is running.")
            services.end_ab(endpoint, pair[1] if action == "switch" else pair[0])
            messages.success(request, "All traffic now goes to one version.")
        else:
            raise services.NotDeployable("Unknown action.")
    except services.NotDeployable as exc:
        messages.error(request, str(exc))
    return redirect("endpoint_detail", endpoint_id=endpoint.pk)


@login_required
@require_GET
def endpoint_logs(request, endpoint_id):
    endpoint, membership = get_endpoint_for_user(request.user, endpoint_id)
    logs = RequestLog.objects.filter(endpoint=endpoint).select_related("deployment__run", "api_key")
    status = request.GET.get("status", "")
    if status == "errors":
        logs = logs.filter(FAILED_CALL | Q(status_code__gte=400))
    wanted = request.GET.get("request", "").strip()
    if wanted:
        logs = logs.filter(pk=request_log_id(wanted))
    page = Paginator(logs, LOGS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "endpoints/logs.html",
        {
            "endpoint": endpoint,
            "project": endpoint.project,
            "membership": membership,
            "page": page,
            "status": status,
            "wanted": wanted,
        },
    )


@login_required
@require_GET
def run_download(request, run_id):
    """The version as a zip: adapter weights and config, tokenizer, requirements, an example
    script and a README (docs/PRODUCT.md 6.3). Built once per version, then served from disk."""
    run, _ = get_run_for_user(request.user, run_id)
    problem = services.deploy_problem(run)
    if problem:
        messages.error(request, problem.replace("deployed", "downloaded"))
        return redirect("run_config", run_id=run.pk)
    path = exports.adapter_zip(run)
    return FileResponse(open(path, "rb"), as_attachment=True, filename=exports.filename(run))


@login_required
@require_http_methods(["GET", "POST"])
def run_download_merged(request, run_id):
    """Base + adapter merged into one model: a task builds it (it loads the whole model); this
    page shows its progress, then the file."""
    run, membership = get_run_for_user(request.user, run_id, write=request.method == "POST")
    problem = services.deploy_problem(run)
    if problem:
        messages.error(request, problem.replace("deployed", "downloaded"))
        return redirect("run_config", run_id=run.pk)
    state = exports.merged_state(run)
    if request.method == "POST":
        if state["state"] in ("none", "failed"):
            exports.set_merged_state(run, "queued")
            export_merged.delay_on_commit(str(run.pk))
        return redirect("run_download_merged", run_id=run.pk)
    if state["state"] == "ready" and request.GET.get("file"):
        path = exports.merged_zip_path(run)
        return FileResponse(
            open(path, "rb"), as_attachment=True, filename=exports.filename(run, merged=True)
        )
    template = "endpoints/_merged_state.html" if request.htmx else "endpoints/merged_download.html"
    response = render(
        request,
        template,
        {"run": run, "project": run.project, "membership": membership, "merged": state},
    )
    if request.htmx and state["state"] in ("ready", "failed"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def run_download_gguf(request, run_id, kind):
    """A GGUF file (llama.cpp, LM Studio) or the Ollama bundle: a task converts the merged
    model, this page shows its progress, then the file."""
    if kind not in exports.GGUF_KINDS:
        raise Http404
    run, membership = get_run_for_user(request.user, run_id, write=request.method == "POST")
    problem = services.deploy_problem(run)
    if problem:
        messages.error(request, problem.replace("deployed", "downloaded"))
        return redirect("run_config", run_id=run.pk)
    state = exports.gguf_state(run, kind)
    if request.method == "POST":
        if state["state"] in ("none", "failed"):
            exports.set_gguf_state(run, kind, "queued")
            export_gguf.delay_on_commit(str(run.pk), kind)
        return redirect("run_download_gguf", run_id=run.pk, kind=kind)
    if state["state"] == "ready" and request.GET.get("file"):
        return FileResponse(
            open(exports.gguf_path(run, kind), "rb"),
            as_attachment=True,
            filename=exports.gguf_filename(run, kind),
        )
    context = {
        "run": run,
        "project": run.project,
        "membership": membership,
        "gguf": state,
        "kind": kind,
        "kinds": exports.GGUF_KINDS,
    }
    template = "endpoints/_gguf_state.html" if request.htmx else "endpoints/gguf_download.html"
    response = render(request, template, context)
    if request.htmx and state["state"] in ("ready", "failed"):
        response["HX-Refresh"] = "true"
    return response


# --- Hugging Face Hub -----------------------------------------------------------


@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def run_hub_push(request, run_id):
    """Push the version to a Hub model repository with the user's own token (docs/PRODUCT.md 6.3)."""
    run, membership = get_run_for_user(request.user, run_id, write=request.method == "POST")
    problem = services.deploy_problem(run)
    if problem:
        messages.error(request, problem.replace("deployed", "pushed"))
        return redirect("run_config", run_id=run.pk)
    pushes = list(run.hub_pushes.all()[:10])
    pushing = any(p.is_active for p in pushes)
    if request.htmx and request.method == "GET":
        response = render(
            request,
            "endpoints/_hub_pushes.html",
            {"run": run, "pushes": pushes, "pushing": pushing},
        )
        if not pushing:
            response["HX-Refresh"] = "true"
        return response
    saved = HubToken.objects.filter(user=request.user).first()
    form_kwargs = {
        "has_token": saved is not None,
        "merged_ready": exports.merged_state(run)["state"] == "ready",
    }
    if request.method == "POST":
        form = HubPushForm(request.POST, **form_kwargs)
        if form.is_valid():
            saved = _save_hub_token(request, form, saved)
            if saved is not None:
                services.queue_hub_push(run, request.user, form.cleaned_data)
                messages.success(
                    request, f"Pushing v{run.number} to {form.cleaned_data['repo_id']}…"
                )
                return redirect("run_hub_push", run_id=run.pk)
    else:
        initial = {"repo_id": hub.default_repo_id(run, saved.hub_username if saved else "")}
        form = HubPushForm(initial=initial, **form_kwargs)
    return render(
        request,
        "endpoints/hub_push.html",
        {
            "run": run,
            "project": run.project,
            "membership": membership,
            "form": form,
            "saved_token": saved,
            "pushes": pushes,
            "pushing": pushing,
        },
    )


def _save_hub_token(request, form, saved):
    """Verify a newly pasted token with the Hub and store it encrypted; the saved row, or None
    with the reason on the form."""
    token = form.cleaned_data["token"]
    if not token:
        return saved
    try:
        username = hub.verify_token(token)
    except hub.HubPushError as exc:
        form.add_error("token", str(exc))
        return None
    return HubToken.store(request.user, token, username)


@login_required
@require_POST
def hub_token_remove(request, run_id):
    run, _ = get_run_for_user(request.user, run_id)
    HubToken.objects.filter(user=request.user).delete()
    messages.success(request, "Your Hugging Face token was deleted from VibeFlow.")
    return redirect("run_hub_push", run_id=run.pk)


# --- keys --------------------------------------------------------------------


def _show_key(request, project, raw: str, note: str):
    """The whole key appears in this one response and nowhere else."""
    endpoint = project.endpoints.first()
    if endpoint is None:
        response = render(
            request,
            "endpoints/key_created.html",
            {"project": project, "raw_key": raw, "key_note": note},
        )
        response["Cache-Control"] = "no-store"
        return response
    _, membership = get_endpoint_for_user(request.user, endpoint.pk)
    context = _context(request, endpoint, membership, raw_key=raw, key_note=note)
    response = render(request, "endpoints/detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def key_create(request, project_id):
    project, _ = get_project_for_user(request.user, project_id, write=True)
    form = KeyCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A key's name is at most 80 characters.")
        return redirect("project_endpoints", project_id=project.pk)
    key, raw = api_keys.create_key(project, request.user, form.cleaned_data["name"])
    return _show_key(request, project, raw, f"New key {key.prefix}… created.")


@login_required
@require_POST
def key_rotate(request, key_id):
    key, _ = get_key_for_user(request.user, key_id, write=True)
    form = RotateKeyForm(request.POST)
    if not form.is_valid() or api_keys.key_state(key) in ("revoked", "expired"):
        messages.error(
            request, "Choose one of the grace periods offered; only a working key can be rotated."
        )
        return redirect("project_endpoints", project_id=key.project_id)
    grace = form.cleaned_data["grace_s"]
    new, raw = api_keys.rotate_key(key, request.user, timedelta(seconds=grace))
    return _show_key(request, key.project, raw, f"Key {key.prefix}… rotated. {grace_label(grace)}.")


@login_required
@require_POST
def key_revoke(request, key_id):
    key, _ = get_key_for_user(request.user, key_id, write=True)
    api_keys.revoke_key(key)
    messages.success(request, f"Key {key.prefix}… revoked: the next request with it fails.")
    endpoint = key.project.endpoints.first()
    if endpoint:
        return redirect("endpoint_detail", endpoint_id=endpoint.pk)
    return redirect("project_endpoints", project_id=key.project_id)


# --- the test console --------------------------------------------------------


@login_required
@require_POST
async def endpoint_console(request, endpoint_id):
    """The page's test console: the same path as an API call, with the member's session
    instead of a key; the answer streams back as server-sent events."""
    user = await request.auser()
    endpoint, _ = await sync_to_async(get_endpoint_for_user)(user, endpoint_id, write=True)
    call = Call("console", from_console=True, project_id=endpoint.project_id)
    return await proxy(call, request, "chat", console=(endpoint.project_id, user.pk))


@csrf_exempt  # a server's call, authenticated by its token, not a browser's
@require_POST
def server_announce(request):
    """An inference server saying it is up (workers/serving/announce.py): a row for it, which
    placement may use at once. Off (404) unless SERVER_ANNOUNCE_TOKEN is set."""
    expected = settings.SERVER_ANNOUNCE_TOKEN
    if not expected:
        return JsonResponse(
            {"error": "Announcing servers is off on this installation."}, status=404
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_compare(token.strip(), expected):
        return JsonResponse({"error": "A valid server token is required."}, status=401)
    try:
        payload = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The body is not valid JSON."}, status=400)
    form = AnnounceForm(payload if isinstance(payload, dict) else {})
    if not isinstance(payload, dict) or not form.is_valid():
        errors = form.errors.get_json_data() if isinstance(payload, dict) else {}
        return JsonResponse(
            {"error": "The announcement is not valid.", "fields": errors}, status=400
        )
    data = form.cleaned_data
    try:
        server = servers.announce(
            servers.Announcement(
                url=data["url"],
                kind=data["kind"],
                name=data["name"],
                base_model=data["base_model"],
                capacity=data["capacity"] or settings.INFERENCE_SERVER_CAPACITY,
                slots=data["slots"] or settings.INFERENCE_SERVER_SLOTS,
            )
        )
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"id": str(server.pk), "name": server.name, "state": server.state})
