"""The run page's live panel: the figures the engine's points carry, their trend, each
checkpoint with its loss and the best marked, and the efficiency ratings with what each is
compared with; nothing shown that the run did not report."""

import pytest
from django.urls import reverse

from apps.catalog.models import BaseModel, Hardware
from apps.training import configuration
from apps.training.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
from apps.training.panel import live_panel


@pytest.fixture
def run(project, owner, db):
    run = TrainingRun.create_next(
        project,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        created_by=owner,
        epochs=3,
    )
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    run.refresh_from_db()
    return run


def point(run, step, **data):
    base = {"step": step, "total_steps": 12, "elapsed_s": 10.0 * step, "tokens_seen": 500 * step}
    MetricPoint.objects.create(run=run, step=step, data=base | data)


def test_the_panel_reads_the_last_points(run):
    expected, _ = configuration.expected_throughput(run.base_model, run.hardware, run.method)
    for step, loss in enumerate((2.4, 2.2, 2.0, 1.8), start=1):
        point(
            run,
            step,
            loss=loss,
            epoch=step / 4,
            learning_rate=2e-4 * (1 - step / 12),
            remaining_s=10.0 * (12 - step),
            tokens_per_s=expected * 0.5,
            data_efficiency=0.99,
            **({"eval_loss": 1.95} if step == 4 else {}),
        )
    Checkpoint.objects.create(run=run, step=4, path="/x/checkpoint-4", eval_loss=1.95, best=True)
    Checkpoint.objects.create(run=run, step=8, path="/x/checkpoint-8", eval_loss=2.05)

    panel = live_panel(run)
    assert panel.epoch == "1.0 of 3"
    assert panel.loss == 1.8 and panel.loss_trend == "falling" and panel.eval_loss == 1.95
    assert panel.learning_rate == pytest.approx(2e-4 * (1 - 4 / 12))
    assert panel.elapsed == "40s" and panel.remaining == "1m"
    assert panel.gpu_memory == "" and panel.gpu_utilization is None  # a CPU run reports none
    speed, data = panel.ratings
    assert speed.verdict == "fair" and "50% of the" in speed.why
    assert data.verdict == "excellent"
    assert panel.verdict.startswith("Slower than it could be")
    assert [c["best"] for c in panel.checkpoints] == [True, False]


def test_the_gpu_rows_when_the_run_reports_them(run):
    point(run, 1, loss=2.0, gpu_memory_used=31.2, gpu_memory_total=80.0, gpu_utilization=91.0)
    panel = live_panel(run)
    assert panel.gpu_memory == "31.2 / 80 GB (39%)"
    assert [r.verdict for r in panel.ratings if "GPU" in r.label] == ["excellent"]


def test_a_run_that_reported_nothing_shows_no_panel(run, owner, login):
    assert live_panel(run).empty
    html = login(owner).get(reverse("run_progress", args=[run.pk])).content.decode()
    assert 'id="run-panel"' not in html


def test_the_progress_part_shows_the_panel_and_another_team_gets_a_404(run, owner, outsider, login):
    point(run, 1, loss=2.0, epoch=0.3, learning_rate=1.5e-4, remaining_s=300.0, tokens_per_s=400)
    Checkpoint.objects.create(run=run, step=1, path="/x/checkpoint-1", eval_loss=1.9, best=True)
    html = login(owner).get(reverse("run_progress", args=[run.pk])).content.decode()
    assert 'data-testid="epoch">0.3 of 3<' in html
    assert 'data-testid="learning-rate">1.50e-04<' in html
    assert "5m remaining" in html and "⭐ best" in html and "Training efficiency" in html
    assert login(outsider).get(reverse("run_progress", args=[run.pk])).status_code == 404
