from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.catalog import vram
from apps.catalog.executors import RUNPOD, executor_for
from apps.catalog.models import Hardware
from apps.datasets.models import JUST_ACCEPTED_SESSION_KEY
from apps.projects.access import get_project_for_user

from . import history
from .access import get_run_for_user
from .budget import start_check
from .configuration import quote, storage
from .forms import MergeForm, TrainingConfigForm
from .models import InvalidTransition, RunStatus, TrainingRun
from .services import (
    choose_size,
    full_epochs,
    preselect_version,
    reset_to_recommended,
)
from .tasks import dispatch, finish_remote, run_training

log = logging.getLogger(__name__)


def _page(request, run, membership, form, status=200):
    data = form.cleaned_data if form.is_bound and form.is_valid() else None
    version = data["dataset_version"] if data else run.dataset_version
    model = data["base_model"] if data else run.base_model
    hardware = data["hardware"] if data else run.hardware
    method = data["method"] if data else run.method
    epochs = data["epochs"] if data else run.epochs
    max_examples = data["max_examples"] if data else run.max_examples
    priced = quote(
        version,
        model,
        hardware,
        method,
        epochs,
        max_examples,
        full_epochs=full_epochs(run.recommendation, version),
    )
    context = {
        "run": run,
        "project": run.project,
        "membership": membership,
        "form": form,
        "quote": priced,
        # Which of the CPU's two offers (quick first run, longer run) these settings are.
        "size_selected": priced.first_run.which(max_examples, epochs) if priced.first_run else "",
        "storage": storage(model, method, data["lora_r"] if data else run.lora_r),
        "alternatives": [
            (h, h.fit_label(model, method), executor_for(h)) for h in Hardware.objects.all()
        ],
        "executor": executor_for(hardware),
        "needs": vram.vram_needed_gb(model.params_billions, method)
        if method in vram.METHODS
        else None,
        "selected": {"model": model, "hardware": hardware, "method": method, "version": version},
        "start_check": start_check(run) if run.is_draft and run.dataset_version_id else None,
        "start_blocker": _start_blocker(run) if run.is_draft else "",
    }
    template = (
        "training/_estimate.html"
        if request.htmx and request.method == "GET" and form.is_bound
        else "training/run_config.html"
    )
    return render(request, template, context, status=status)


def _start_blocker(run: TrainingRun) -> str:
    """Why Start Training cannot work with the saved configuration, said next to the disabled
    button; "" when it can start."""
    if run.dataset_version_id is None:
        return "Choose the training data in Settings and save, then start."
    executor = executor_for(run.hardware)
    return "" if executor.available else executor.reason


@login_required
@require_http_methods(["GET", "POST"])
def run_config(request, run_id):
    run, membership = get_run_for_user(request.user, run_id, write=request.method == "POST")
    if request.method == "POST":
        if not run.is_draft:
            messages.error(request, "This run has started; its configuration can no longer change.")
            return redirect("run_config", run_id=run.pk)
        form = TrainingConfigForm(request.POST, instance=run, project=run.project)
        if not form.is_valid():
            return _page(request, run, membership, form, status=400)
        form.save()
        messages.success(request, "Configuration saved.")
        return redirect("run_config", run_id=run.pk)
    if membership.can_write:
        preselect_version(run, request.session.get(JUST_ACCEPTED_SESSION_KEY))
    return _page(request, run, membership, TrainingConfigForm(instance=run, project=run.project))


@login_required
@require_GET
def run_estimate(request, run_id):
    """The estimate for the values in the form, unsaved: the page calls it on every change."""
    run, membership = get_run_for_user(request.user, run_id)
    form = TrainingConfigForm(
        request.GET, instance=TrainingRun(project=run.project), project=run.project
    )
    return _page(request, run, membership, form, status=200)


@login_required
@require_POST
def run_start(request, run_id):
    run, membership = get_run_for_user(request.user, run_id, write=True)
    form = TrainingConfigForm(_values(run), instance=run, project=run.project)
    if run.dataset_version is None:
        messages.error(request, "Choose a dataset version before starting.")
    elif not form.is_valid():
        messages.error(
            request,
            "Fix the configuration first: "
            + "; ".join(e for errs in form.errors.values() for e in errs),
        )
    else:
        executor = executor_for(run.hardware)
        if not executor.available:
            log.info(
                "start refused: hardware unavailable",
                extra={
                    "run": str(run.pk),
                    "hardware": run.hardware.slug,
                    "detail": executor.detail,
                },
            )
            messages.error(request, executor.reason)
            return redirect("run_config", run_id=run.pk)
        check = start_check(run)
        if check.too_many_runs:
            messages.error(request, check.too_many_runs)
            return redirect("run_config", run_id=run.pk)
        override = request.POST.get("override_budget") and membership.role == Role.OWNER
        if check.over_budget and not override:
            messages.error(request, check.over_budget)
            return redirect("run_config", run_id=run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(estimated_cost=check.estimate)
        try:
            run.transition(RunStatus.QUEUED)
        except InvalidTransition as exc:
            messages.error(request, str(exc))
        else:
            dispatch(run)
            if executor.kind == RUNPOD:
                messages.success(
                    request, f"v{run.number} is queued: a RunPod pod is being started."
                )
            else:
                messages.success(
                    request,
                    f"v{run.number} is queued. It starts as soon as the server is free to train it.",
                )
    return redirect("run_config", run_id=run.pk)


def _values(run: TrainingRun) -> dict:
    return {
        f: getattr(run, f + "_id" if f in ("dataset_version", "base_model", "hardware") else f)
        for f in TrainingConfigForm.Meta.fields
    }


@login_required
@require_POST
def run_stop(request, run_id):
    """Stop saves a checkpoint and ends within a step; a run still queued is cancelled instead."""
    run, _ = get_run_for_user(request.user, run_id, write=True)
    try:
        if run.status == RunStatus.QUEUED:
            run.transition(RunStatus.CANCELLED)
            messages.success(request, f"v{run.number} was cancelled before it started.")
        elif run.status == RunStatus.PROVISIONING:
            # Nothing trained yet: cancel, and end the pod that was starting for it.
            run.transition(RunStatus.CANCELLED)
            finish_remote.delay_on_commit(str(run.pk))
            messages.success(request, f"v{run.number} was cancelled; its pod is being ended.")
        else:
            run.request_stop()
            messages.success(
                request,
                f"Stopping v{run.number}: it saves a checkpoint and ends after the current step.",
            )
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    return redirect("run_config", run_id=run.pk)


@login_required
@require_GET
def run_progress(request, run_id):
    run, membership = get_run_for_user(request.user, run_id)
    return render(request, "training/_progress.html", {"run": run, "membership": membership})


@login_required
@require_POST
def run_resume(request, run_id):
    """Train a stopped run on from its last checkpoint, in the same run."""
    run, _ = get_run_for_user(request.user, run_id, write=True)
    if run.status != RunStatus.STOPPED or not run.checkpoints.exists():
        messages.error(request, "Only a stopped run with a saved checkpoint can resume.")
    elif run.remote_pod_id:
        messages.error(
            request,
            "This run trained on a RunPod pod that has ended, and its checkpoints ended with it. "
            "Evaluate the adapter it saved, or start a new run.",
        )
    elif problem := _resume_problem(run):
        messages.error(request, problem)
    else:
        # A user's resume starts the count of lost workers afresh (recovery.py).
        TrainingRun.objects.filter(pk=run.pk).update(attempts=0)
        run.transition(RunStatus.QUEUED)
        run_training.delay_on_commit(str(run.pk))
        messages.success(
            request, f"v{run.number} is queued to resume from step {run.checkpoints.last().step}."
        )
    return redirect("run_config", run_id=run.pk)


def _resume_problem(run) -> str:
    """Resuming spends like starting: the plan's run limit and the budget apply (no override:
    an owner raises the budget)."""
    check = start_check(run)
    if check.too_many_runs:
        return check.too_many_runs
    if check.budget.exceeded:
        return check.over_budget.replace("An owner can start it anyway, or raise", "Raise")
    return ""


@login_required
@require_GET
def run_log(request, run_id):
    """The run's whole log as a text file (the page shows only its tail)."""
    run, _ = get_run_for_user(request.user, run_id)
    path = run.log_path
    if not path.is_file():
        return HttpResponse(
            "This run has not written a log yet.", status=404, content_type="text/plain"
        )
    return FileResponse(
        open(path, "rb"),
        as_attachment=True,
        filename=f"{run.project.name}-v{run.number}-train.log.txt",
        content_type="text/plain; charset=utf-8",
    )


@login_required
@require_POST
def run_size(request, run_id):
    """One click from the estimate: the quick first run, or the longer run it stands in for."""
    run, _ = get_run_for_user(request.user, run_id, write=True)
    chosen = choose_size(run, request.POST.get("size", "")) if run.is_draft else ""
    if chosen:
        messages.success(request, f"Settings changed to {chosen}.")
    else:
        messages.error(request, "This run has no quick or longer option to switch to.")
    return redirect("run_config", run_id=run.pk)


@login_required
@require_POST
def run_reset(request, run_id):
    """Reset to recommended: a draft's settings back to what the agent recommended."""
    run, _ = get_run_for_user(request.user, run_id, write=True)
    if not run.is_draft or not run.recommendation:
        messages.error(request, "Only a draft made from a recommendation can be reset to it.")
    else:
        reset_to_recommended(run)
        messages.success(request, "Settings reset to the recommendation.")
    return redirect("run_config", run_id=run.pk)


@login_required
@require_POST
def run_branch(request, run_id):
    """A new draft that trains on from this version's adapter (the model history's branch)."""
    run, _ = get_run_for_user(request.user, run_id, write=True)
    try:
        draft = history.branch(run, request.user)
    except history.HistoryRefused as exc:
        messages.error(request, str(exc))
        return redirect("project_history", project_id=run.project_id)
    messages.success(
        request,
        f"v{draft.number} continues v{run.number}: choose its data and settings, then start it.",
    )
    return redirect("run_config", run_id=draft.pk)


@login_required
@require_POST
def project_merge(request, project_id):
    """Combine two LoRA versions into a new one, queued; it is evaluated once merged."""
    project, _ = get_project_for_user(request.user, project_id, write=True)
    form = MergeForm(request.POST, project=project)
    if not form.is_valid():
        messages.error(request, form.error_sentence())
        return redirect("project_history", project_id=project.pk)
    try:
        merged = history.merge(form.request_for(form.cleaned_data), request.user)
    except history.HistoryRefused as exc:  # the budget, the plan, or a version gone meanwhile
        messages.error(request, str(exc))
        return redirect("project_history", project_id=project.pk)
    messages.success(
        request,
        f"v{merged.number} is merging v{merged.parent.number} and v{merged.merged_with.number}; "
        "its evaluation starts when it is ready.",
    )
    return redirect("run_config", run_id=merged.pk)
