"""A project's versions as a history: branches that train on from a version, merges that combine
two, and the sentence each version is described by.

A version is a training run. Its ``parent`` is the version it continued from (none: the base
model); a merge also names the version it combined with (``merged_with``). Branching makes a
draft that trains on from the parent's adapter (workers.training gets it as ``init_adapter``);
merging makes a run that the ``gpu`` worker combines with peft instead of training
(``runner.merge_run``), which is then evaluated like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from apps.billing.budgets import start_check as billing_check
from apps.billing.metering import MONEY, gpu_price_per_second
from apps.catalog.executors import GPU_QUEUE, LOCAL, executor_for
from apps.catalog.models import Hardware

from .models import ACTIVE, CONFIG_FIELDS, MergeMethod, Method, RunStatus, TrainingRun
from .tasks import dispatch

ADAPTER_METHODS = (Method.LORA, Method.QLORA)

# What a branch copies from its parent: the settings, and the seed.
COPIED = (*CONFIG_FIELDS, "seed")
# Fixed by the parent's adapter: a branch trains that adapter on, with its shape.
LOCKED = ("base_model", "lora_r", "lora_alpha", "lora_dropout", "target_modules")


class HistoryRefused(ValueError):
    """A branch or merge that cannot be made; the message says why."""


def has_adapter(run: TrainingRun) -> bool:
    return bool(run.adapter_dir) and Path(run.adapter_dir, "adapter_config.json").is_file()


def can_branch(run: TrainingRun) -> str:
    """Why ``run`` cannot be branched from ("" when it can)."""
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.STOPPED):
        return f"v{run.number} has no trained adapter yet ({run.get_status_display().lower()})."
    if run.method not in ADAPTER_METHODS:
        return (
            f"v{run.number} is a full fine-tune: a branch continues a LoRA adapter. Train a "
            "new version from the base model instead."
        )
    if not has_adapter(run):
        return f"v{run.number}'s adapter is no longer on disk."
    return ""


def branch(parent: TrainingRun, user) -> TrainingRun:
    """A draft that trains on from ``parent``'s adapter, with its settings to change."""
    reason = can_branch(parent)
    if reason:
        raise HistoryRefused(reason)
    fields = {name: getattr(parent, name) for name in COPIED}
    return TrainingRun.create_next(
        parent.project,
        parent=parent,
        created_by=user,
        **fields,
    )


@dataclass(frozen=True)
class MergeRequest:
    first: TrainingRun
    second: TrainingRun
    method: str
    weight: float  # the first version's; the second's is 1 - weight
    density: float = 0.5


def check_merge(request: MergeRequest) -> None:
    a, b = request.first, request.second
    if a.pk == b.pk:
        raise HistoryRefused("Choose two different versions to merge.")
    if a.project_id != b.project_id:
        raise HistoryRefused("Both versions must belong to this project.")
    for run in (a, b):
        reason = can_branch(run)
        if reason:
            raise HistoryRefused(reason.replace("a branch continues", "a merge combines"))
    if a.base_model_id != b.base_model_id:
        raise HistoryRefused(
            f"v{a.number} and v{b.number} are adapters of different base models "
            f"({a.base_model.name}, {b.base_model.name}); only versions of one base merge."
        )
    if request.method not in MergeMethod.values:
        raise HistoryRefused("Choose linear, TIES or DARE.")
    if not 0 < request.weight < 1:
        raise HistoryRefused("The first version's weight must be between 0 and 1 (exclusive).")
    if not 0 < request.density <= 1:
        raise HistoryRefused("Density must be above 0 and at most 1.")


def merge_hardware(run: TrainingRun) -> Hardware:
    """Where a merge runs: this installation's ``gpu`` worker (it loads the base once and
    combines two small adapters in seconds): the first version's hardware when that worker
    trains it, else this installation's CPU."""
    if executor_for(run.hardware).kind in (LOCAL, GPU_QUEUE):
        return run.hardware
    cpu = Hardware.objects.filter(is_cpu=True).order_by("hourly_price", "pk").first()
    if cpu is None:
        raise HistoryRefused("No hardware of this installation can run a merge.")
    return cpu


# A merge's expected time, for the budget check before it starts (it loads the base once and
# combines two adapters: about a minute where the base is large, seconds where it is small).
MERGE_ESTIMATE_S = 60


def merge(request: MergeRequest, user) -> TrainingRun:
    """Queue a merge: a new version whose adapter combines the two (runner.merge_run). Checked
    like a run's start: the budget and the plan's runs at a time."""
    check_merge(request)
    a, b = request.first, request.second
    hardware = merge_hardware(a)
    active = TrainingRun.objects.filter(project__team_id=a.project.team_id, status__in=ACTIVE)
    estimate = (gpu_price_per_second(hardware) * MERGE_ESTIMATE_S).quantize(MONEY)
    check = billing_check(a.project.team_id, estimate, active.count())
    if check.too_many_runs or check.over_budget:
        raise HistoryRefused(check.too_many_runs or check.over_budget)
    with transaction.atomic():
        run = TrainingRun.create_next(
            a.project,
            parent=a,
            merged_with=b,
            merge_method=request.method,
            merge_options={
                "weights": [request.weight, round(1 - request.weight, 6)],
                "density": request.density,
            },
            created_by=user,
            dataset_version=a.dataset_version,  # its test split evaluates the merge
            base_model=a.base_model,
            hardware=hardware,
            estimated_cost=estimate,
            method=Method.LORA,
            lora_r=a.lora_r,
            lora_alpha=a.lora_alpha,
            target_modules=a.target_modules,
            seed=a.seed,
            epochs=1,
        )
        run.transition(RunStatus.QUEUED)
        dispatch(run)
    return run
