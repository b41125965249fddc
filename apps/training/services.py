"""Creating a draft run, from the offline recommender or from an agent's recommendation."""

from __future__ import annotations

from apps.brainstorm.recommender import Request, decide
from apps.catalog.models import BaseModel, Hardware
from apps.datasets.models import DatasetVersion, VersionStatus

from .models import TrainingRun


def latest_version(project) -> DatasetVersion | None:
    """The newest accepted version, else the newest ready one."""
    versions = DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY)
    return (
        versions.filter(accepted_at__isnull=False).order_by("-created_at").first()
        or versions.order_by("-created_at").first()
    )


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
    }


def draft_from_recommendation(project, rec: dict, user) -> TrainingRun:
    return TrainingRun.create_next(
        project,
        dataset_version=latest_version(project),
        recommendation=rec,
        created_by=user,
        **recommended_fields(rec),
    )


def reset_to_recommended(run: TrainingRun) -> None:
    """Put a draft's settings back to its recommendation (the data choice stays)."""
    for name, value in recommended_fields(run.recommendation).items():
        setattr(run, name, value)
    run.save()


def draft_for_project(project, user) -> TrainingRun:
    """A draft from the offline recommender for the project's goal and latest data, on this machine."""
    from apps.brainstorm.agent import catalog_entries

    models, gpus = catalog_entries()
    version = latest_version(project)
    request = Request(
        project.goal or project.name, version.train_count if version else None, None, "cpu"
    )
    return draft_from_recommendation(project, decide(request, models, gpus).as_dict(), user)
