from __future__ import annotations

from apps.training.models import RunStatus, TrainingRun

from .models import Evaluation

EVALUABLE = (RunStatus.SUCCEEDED, RunStatus.STOPPED)


class NotEvaluable(ValueError):
    pass


def test_sets(project):
    """The project's dataset versions an evaluation can run on: ready, with a test split. Any of
    them is a custom benchmark: a user's own test file uploaded as a dataset."""
    from apps.datasets.models import DatasetVersion, VersionStatus

    return DatasetVersion.objects.filter(
        dataset__project=project, status=VersionStatus.READY, test_count__gt=0
    ).select_related("dataset")


def queue_for_run(
    run: TrainingRun, user=None, dataset_version=None, benchmarks: list[str] | None = None
) -> Evaluation:
    """An evaluation of a finished (or stopped) run, on its own test split or on another ready
    version of the project, queued after commit."""
    from .tasks import run_evaluation

    if run.status not in EVALUABLE or not run.adapter_dir:
        raise NotEvaluable("Only a finished or stopped run with a saved adapter can be evaluated.")
    version = dataset_version or run.dataset_version
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
    from .tasks import run_evaluation

    if not test_sets(project).filter(pk=dataset_version.pk).exists():
        raise NotEvaluable("Choose one of this project's dataset versions with a test split.")
    evaluation = Evaluation.objects.create(
        project=project, base_model=base_model, dataset_version=dataset_version, created_by=user
    )
    run_evaluation.delay_on_commit(str(evaluation.pk))
    return evaluation
