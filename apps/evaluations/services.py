from __future__ import annotations

from apps.datasets.models import DatasetVersion, VersionStatus
from apps.training.models import RunStatus, TrainingRun
from apps.training.reporting import DatabaseReporter

from .models import Evaluation
from .tasks import run_evaluation

EVALUABLE = (RunStatus.SUCCEEDED, RunStatus.STOPPED)


class NotEvaluable(ValueError):
    pass


def test_sets(project):
    """The project's dataset versions an evaluation can run on: ready, with a test split. Any of
    them is a custom benchmark: a user's own test file uploaded as a dataset."""
    return DatasetVersion.objects.filter(
        dataset__project=project, status=VersionStatus.READY, test_count__gt=0
    ).select_related("dataset")


def queue_for_run(
    run: TrainingRun, user=None, dataset_version=None, benchmarks: list[str] | None = None
) -> Evaluation:
    """An evaluation of a finished (or stopped) run, on its own test split or on another ready
    version of the project, queued after commit."""
    if run.status not in EVALUABLE or not run.adapter_dir:
        raise NotEvaluable("Only a finished or stopped run with a saved adapter can be evaluated.")
    version = dataset_version or run.dataset_version
    if version is None:
        raise NotEvaluable("This run has no dataset version to evaluate on.")
    if version.dataset.project_id != run.project_id:
        raise NotEvaluable("That test set belongs to another project.")
    if not version.test_count:
        raise NotEvaluable(f"{version} has no test split, so there is nothing to evaluate on.")
    evaluation = Evaluation.objects.create(
        project=run.project,
        run=run,
        base_model=run.base_model,
        dataset_version=version,
        benchmarks=list(benchmarks or []),
        created_by=user,
    )
    run_evaluation.delay_on_commit(str(evaluation.pk))
    return evaluation


def queue_for_base_model(project, base_model, dataset_version, user=None) -> Evaluation:
    """The base model alone on one of the project's test sets: the reference a version must beat."""
    if not test_sets(project).filter(pk=dataset_version.pk).exists():
        raise NotEvaluable("Choose one of this project's dataset versions with a test split.")
    evaluation = Evaluation.objects.create(
        project=project, base_model=base_model, dataset_version=dataset_version, created_by=user
    )
    run_evaluation.delay_on_commit(str(evaluation.pk))
    return evaluation


def on_run_changed(sender, run, status, **kwargs) -> None:
    """A run that succeeded is evaluated by itself (docs/PRODUCT.md 5.1: "On Training
    Complete"), queued in the transaction that ends the run (training's `run_changed`)."""
    if status != RunStatus.SUCCEEDED:
        return
    run = TrainingRun.objects.select_related("project", "base_model", "dataset_version").get(
        pk=run.pk
    )
    reporter = DatabaseReporter(run, run.log_path)
    try:
        queue_for_run(run, run.created_by)
    except NotEvaluable as exc:
        reporter.log(f"Not evaluated: {exc}")
    else:
        reporter.log("Evaluation queued: base vs tuned on the test split")
