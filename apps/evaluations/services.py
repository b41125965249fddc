from __future__ import annotations

from apps.training.models import RunStatus, TrainingRun

from .models import Evaluation

EVALUABLE = (RunStatus.SUCCEEDED, RunStatus.STOPPED)


class NotEvaluable(ValueError):
    pass


def queue_for_run(run: TrainingRun, user=None) -> Evaluation:
    """An evaluation of a finished (or stopped) run against its own test split, queued after commit."""
    from .tasks import run_evaluation

    if run.status not in EVALUABLE or not run.adapter_dir:
        raise NotEvaluable("Only a finished or stopped run with a saved adapter can be evaluated.")
    if not run.dataset_version.test_count:
        raise NotEvaluable(
            "This run's dataset version has no test split, so there is nothing to evaluate on."
        )
    evaluation = Evaluation.objects.create(
        project=run.project,
        run=run,
        base_model=run.base_model,
        dataset_version=run.dataset_version,
        created_by=user,
    )
    run_evaluation.delay_on_commit(str(evaluation.pk))
    return evaluation
