"""The demo account's finished example: a project that was really trained, evaluated and deployed,
so a first look at VibeFlow shows every page with real figures beside an empty project.

`seed_demo` creates the project and queues `prepare_showcase` (gpu queue): it imports the
customer-support sample, trains the bundled model on this machine with LoRA and lets the evaluation
that follows a run do its work. The deployment follows the evaluation's end (`evaluation_finished`),
not a check made before it: a run command stopped mid-training finds the run taken by the reaper's
resume and leaves it, and whichever evaluation ends the showcase's run deploys it. Each step looks at
what is already there, so the next start finishes whatever a stop interrupted.
"""

from __future__ import annotations

from apps.catalog.models import BaseModel, Hardware
from apps.datasets.models import Dataset, DatasetVersion, VersionStatus
from apps.datasets.samples import SAMPLES
from apps.datasets.storage import store_path
from apps.datasets.tasks import analyse_version
from apps.endpoints.services import NotDeployable, deploy_run
from apps.evaluations.models import EvalStatus
from apps.evaluations.services import NotEvaluable, queue_for_run
from apps.projects.models import Project
from apps.training.models import RunStatus, TrainingRun
from apps.training.tasks import run_training

SHOWCASE_NAME = "Support Replies (finished example)"
SHOWCASE_GOAL = (
    "A finished example: the customer-support sample, trained on this machine with the bundled "
    "model, evaluated and deployed. Open its run, evaluation and endpoint pages."
)
# Two epochs: enough for the tuned model to beat the base model on this sample
# (tests/e2e/test_whole_journey.py trains the same), in a few minutes on a laptop CPU.
EPOCHS = 2


def _version(project, user):
    version = (
        DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY)
        .order_by("-created_at")
        .first()
    )
    if version is not None:
        return version
    sample = SAMPLES["customer-support"]
    version = DatasetVersion.objects.filter(dataset__project=project).first()
    if version is None:
        dataset = Dataset.objects.create(project=project, name=sample["file"].name, created_by=user)
        version = DatasetVersion.create_next(
            dataset,
            source=store_path(sample["file"]),
            original_name=sample["file"].name,
            reason=f"Imported the sample “{sample['title']}”",
            created_by=user,
        )
    analyse_version(str(version.pk))
    version.refresh_from_db()
    return version if version.status == VersionStatus.READY else None


def _trained_run(project, user, version):
    run = project.runs.filter(status=RunStatus.SUCCEEDED).first()
    if run is not None:
        return run
    run = project.runs.exclude(status__in=[RunStatus.FAILED, RunStatus.CANCELLED]).first()
    if run is None:
        run = TrainingRun.create_next(
            project,
            dataset_version=version,
            base_model=BaseModel.objects.get(bundled=True),
            hardware=Hardware.objects.get(is_cpu=True),
            method="lora",
            epochs=EPOCHS,
            batch_size=4,
            gradient_accumulation=2,
            created_by=user,
        )
    if run.status == RunStatus.DRAFT:
        run.transition(RunStatus.QUEUED)
    elif run.status in (RunStatus.RUNNING, RunStatus.STOPPING, RunStatus.STOPPED):
        return None  # another worker has it, or a person stopped it: leave it to them
    run_training(str(run.pk))
    run.refresh_from_db()
    return run if run.status == RunStatus.SUCCEEDED else None


def deploy_when_evaluated(run, user) -> str:
    """Deploy the showcase's trained run once its evaluation has ended; say what it waits for."""

    if run.deployments.exists():
        return "ready"
    evaluation = run.evaluations.order_by("-created_at").first()
    if evaluation is None:  # ended before evaluations were queued by runs, or the queueing failed
        try:
            queue_for_run(run, user)
        except NotEvaluable as exc:
            return str(exc)
        return "waiting for its evaluation"
    if evaluation.status not in (EvalStatus.SUCCEEDED, EvalStatus.FAILED):
        return "waiting for its evaluation"
    try:
        deploy_run(run, user)  # queues the deployment (and its health check) after commit
    except NotDeployable as exc:
        return str(exc)
    return "ready"


def prepare(project_id: str) -> str:
    """Whatever the example still lacks, in order; says where it stands."""
    project = Project.objects.select_related("created_by").filter(pk=project_id).first()
    if project is None:
        return "gone"
    user = project.created_by
    version = _version(project, user)
    if version is None:
        return "the sample could not be analysed"
    run = _trained_run(project, user, version)
    if run is None:
        return "training elsewhere; deployed when its evaluation ends"
    return deploy_when_evaluated(run, user)
