import pytest

from apps.catalog.models import BaseModel
from apps.evaluations.models import EvalStatus
from apps.evaluations.services import queue_for_run
from apps.evaluations.tasks import run_evaluation
from apps.training.models import RunStatus, TrainingRun
from tests.training.helpers import draft_run
from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train


@pytest.fixture
def trained_run(login, owner, project, tiny_model_dir, tmp_path):
    """A run on the tiny random model that really trained a LoRA adapter on its version's data."""
    run = draft_run(login(owner), project, epochs=1, batch_size=4)
    BaseModel.objects.filter(pk=run.base_model_id).update(bundled=False, source=str(tiny_model_dir))
    result = train(
        JobSpec(
            ModelSource("path", str(tiny_model_dir)),
            str(run.dataset_version.folder / "train.jsonl"),
            str(tmp_path / "run"),
            hyperparameters=Hyperparameters(batch_size=4, max_steps=4, save_steps=4),
        ),
        ListReporter(),
    )
    for status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        run.transition(status)
    TrainingRun.objects.filter(pk=run.pk).update(adapter_dir=result.adapter_dir)
    run.refresh_from_db()
    return run


@pytest.fixture
def finished(trained_run, owner):
    evaluation = queue_for_run(trained_run, owner)
    assert run_evaluation(str(evaluation.pk)) == EvalStatus.SUCCEEDED
    evaluation.refresh_from_db()
    return evaluation
