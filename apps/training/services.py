"""Drafts from a recommendation (the agent's or the offline recommender's, made in brainstorm),
and the configuration page's one-click changes to a draft."""

from __future__ import annotations

from apps.catalog.models import BaseModel, Hardware
from apps.datasets.models import DatasetVersion, VersionStatus, latest_version

from .configuration import first_run_plan
from .estimates import epochs_for
from .models import RunStatus, TrainingRun

QUICK, LONGER = "quick", "longer"  # a CPU draft's two sizes: a first run, or the full one


def preselect_version(run: TrainingRun, just_accepted: str | None = None) -> None:
    """Give a draft without training data the project's latest accepted version when there is
    no choice to make: the project has exactly one, or the user has just accepted one of this
    project ("Looks good!", ``just_accepted``) and comes to configure training. With several
    accepted and none just now, the user chooses."""
    if not run.is_draft or run.dataset_version_id:
        return
    accepted = DatasetVersion.objects.filter(
        dataset__project=run.project_id, status=VersionStatus.READY, accepted_at__isnull=False
    )
    latest = list(accepted.order_by("-accepted_at", "-created_at")[:2])
    if not latest:
        return
    if len(latest) > 1 and not (just_accepted and accepted.filter(pk=just_accepted).exists()):
        return
    # Only while it still has none: a choice saved from another tab meanwhile stands.
    chosen = TrainingRun.objects.filter(
        pk=run.pk, status=RunStatus.DRAFT, dataset_version__isnull=True
    ).update(dataset_version=latest[0])
    if chosen:
        run.dataset_version = latest[0]


def recommended_fields(rec: dict) -> dict:
    """The run fields a recommendation sets (the rest keep the model's defaults)."""
    return {
        "base_model": BaseModel.objects.get(slug=rec["base_model"]),
        "hardware": Hardware.objects.get(slug=rec["hardware"]),
        "method": rec["method"],
        "lora_r": rec["lora_r"],
        "lora_alpha": rec["lora_alpha"],
        "target_modules": ",".join(rec["target_modules"]) or "q_proj,v_proj",
        "learning_rate": rec["learning_rate"],
        "batch_size": rec["batch_size"],
        "gradient_accumulation": rec["gradient_accumulation"],
        "epochs": rec["epochs"],
        "max_examples": rec.get("max_examples") or 0,
    }


def draft_from_recommendation(project, rec: dict, user, size: str = "") -> TrainingRun:
    """A draft with the recommendation's settings; ``size="longer"`` takes the longer run a
    CPU recommendation offers instead of its quick first run."""
    fields = recommended_fields(rec)
    longer = rec.get("longer_run") or {}
    if size == LONGER and longer.get("epochs"):
        fields.update(epochs=longer["epochs"], max_examples=longer.get("max_examples") or 0)
    return TrainingRun.create_next(
        project,
        dataset_version=latest_version(project),
        recommendation=rec,
        created_by=user,
        **fields,
    )


def reset_to_recommended(run: TrainingRun) -> None:
    """Put a draft's settings back to its recommendation (the data choice stays)."""
    for name, value in recommended_fields(run.recommendation).items():
        setattr(run, name, value)
    run.save()


def full_epochs(recommendation: dict | None, version) -> int | None:
    """The epochs of the longer run a quick first run stands in for: the recommendation's,
    else the table's for the data's size."""
    longer = (recommendation or {}).get("longer_run") or {}
    if longer.get("epochs"):
        return int(longer["epochs"])
    return epochs_for(version.train_count) if version is not None else None


def choose_size(run: TrainingRun, which: str) -> str:
    """One click on the configuration page: make a draft the quick first run or the longer
    one, as its estimate offers them. Returns what was chosen, in words, or "" when the run
    has no such choice (not on a CPU, or no ready data)."""
    version = run.dataset_version
    epochs = full_epochs(run.recommendation, version)
    plan = (
        first_run_plan(version, run.base_model, run.hardware, run.method, epochs)
        if epochs and version is not None and version.is_ready
        else None
    )
    if plan is None or which not in (QUICK, LONGER):
        return ""
    size = plan.quick if which == QUICK else plan.longer
    run.epochs = size.epochs
    run.max_examples = 0 if size.examples >= plan.all_examples else size.examples
    run.save(update_fields=["epochs", "max_examples", "updated_at"])
    return (
        f"{'all ' if not run.max_examples else ''}{size.examples:,} examples × "
        f"{size.epochs} epoch{'s' if size.epochs != 1 else ''}"
    )
