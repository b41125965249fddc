"""An evaluation through the task and the pages: results, examples, files, bad states, isolation."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from apps.evaluations.models import EvalStatus, Evaluation
from apps.evaluations.services import queue_for_run
from apps.evaluations.tasks import run_evaluation
from tests.training.helpers import draft_run

pytestmark = pytest.mark.django_db


def test_an_evaluation_compares_base_and_tuned_and_shows_it(login, owner, finished):
    assert finished.result["tuned"] and finished.result["base"]
    assert finished.progress == 1.0 and finished.finished_at
    page = login(owner).get(reverse("evaluation_detail", args=[finished.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Overall Quality Score" in html and "Key Metrics" in html
    assert "vs the base model" in html and "Token F1" in html
    assert "re-weighted" in html  # no judge configured, and the page says what that does


def test_examples_are_paged_and_filterable(login, owner, finished):
    client = login(owner)
    page = client.get(reverse("evaluation_examples", args=[finished.pk]))
    assert page.status_code == 200 and "Example 1/" in page.content.decode()
    rows = json.loads((finished.folder / "examples-comparison.json").read_text())
    worse = [r for r in rows if r["tuned_f1"] < r["base_f1"]]
    filtered = client.get(reverse("evaluation_examples", args=[finished.pk]) + "?worse=1")
    text = filtered.content.decode()
    assert ("No example got worse" in text) == (not worse)


def test_results_download_and_unknown_files_are_404(login, owner, finished):
    client = login(owner)
    response = client.get(reverse("evaluation_file", args=[finished.pk, "metrics.json"]))
    assert response.status_code == 200
    assert (
        json.loads(b"".join(response.streaming_content))["examples"] == finished.result["examples"]
    )
    assert "attachment" in response["Content-Disposition"]
    for name in ("secret_key", "..%2F..%2Fsecret_key", "train.log"):
        assert client.get(f"/evaluations/{finished.pk}/files/{name}").status_code == 404


def test_a_deleted_adapter_fails_with_a_sentence(trained_run, owner):
    evaluation = queue_for_run(trained_run, owner)
    for f in Path(trained_run.adapter_dir).iterdir():
        f.unlink()
    assert run_evaluation(str(evaluation.pk)) == EvalStatus.FAILED
    evaluation.refresh_from_db()
    assert evaluation.error.startswith("The run's adapter is missing")
    assert run_evaluation(str(evaluation.pk)) == "skipped"  # a redelivery changes nothing


def test_only_a_finished_run_can_be_evaluated(login, owner, project):
    run = draft_run(login(owner), project)
    response = login(owner).post(reverse("evaluation_start", args=[run.pk]), follow=True)
    assert "Only a finished or stopped run" in response.content.decode()
    assert not Evaluation.objects.exists()


def test_evaluations_are_team_only(login, outsider, viewer, owner, finished, trained_run):
    urls = [
        reverse("evaluation_detail", args=[finished.pk]),
        reverse("evaluation_progress", args=[finished.pk]),
        reverse("evaluation_examples", args=[finished.pk]),
        reverse("evaluation_file", args=[finished.pk, "metrics.json"]),
    ]
    for url in urls:
        assert login(outsider).get(url).status_code == 404
        assert login(viewer).get(url).status_code == 200
    start = reverse("evaluation_start", args=[trained_run.pk])
    assert login(outsider).post(start).status_code == 404
    assert login(viewer).post(start).status_code == 403
    assert Evaluation.objects.count() == 1
    assert login(owner).get("/evaluations/not-a-uuid/").status_code == 404


def test_a_low_score_lists_its_likely_causes_with_actions(login, owner, finished):
    from apps.training.models import MetricPoint

    # An overfitting curve on the run: eval loss down, then up again.
    for step, eval_loss in ((1, 2.0), (2, 1.0), (3, 1.5)):
        MetricPoint.objects.update_or_create(
            run=finished.run, step=step, defaults={"data": {"step": step, "eval_loss": eval_loss}}
        )
    assert finished.result["tuned_quality"]["gate"] != "ready"  # the tiny random model
    html = login(owner).get(reverse("evaluation_detail", args=[finished.pk])).content.decode()
    assert "likely causes" in html
    assert "Too few examples" in html and "8 training examples" in html
    assert "Overfitting" in html and "ended at 1.500" in html
    assert "Model too small" in html
    assert reverse("dataset_discover", args=[finished.project_id]) in html


def test_an_evaluation_whose_worker_vanished_ends_failed(trained_run, owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.evaluations.tasks import reap_lost_evaluations

    evaluation = queue_for_run(trained_run, owner)
    long_ago = timezone.now() - timedelta(seconds=settings.EVALUATION_STALE_AFTER_S + 5)
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running", heartbeat_at=long_ago)
    fresh = queue_for_run(trained_run, owner)
    Evaluation.objects.filter(pk=fresh.pk).update(status="running", heartbeat_at=timezone.now())
    assert reap_lost_evaluations() == 1
    evaluation.refresh_from_db()
    fresh.refresh_from_db()
    assert evaluation.status == "failed" and "stopped answering" in evaluation.error
    assert fresh.status == "running"


def test_error_analysis_counts_fixed_and_broken_examples():
    from apps.evaluations.summary import error_analysis

    rows = [
        {"index": 0, "base_f1": 0.1, "tuned_f1": 0.9},  # fixed
        {"index": 1, "base_f1": 0.8, "tuned_f1": 0.2},  # broken
        {"index": 2, "base_f1": 0.1, "tuned_f1": 0.3},  # wrong for both
        {"index": 3, "base_f1": 0.6, "tuned_f1": 0.7},  # right for both
    ]
    assert error_analysis(rows) == {
        "threshold": 0.5,
        "total": 4,
        "base_wrong": 2,
        "tuned_wrong": 2,
        "fixed": 1,
        "broken": 1,
        "still_wrong": 1,
    }
    assert error_analysis([{"index": 0, "base_f1": 0.1}]) is None  # base model alone


def test_a_run_can_be_evaluated_on_another_test_set_of_its_project_only(
    login, owner, outsider, trained_run, finished
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.datasets.models import DatasetVersion
    from apps.datasets.tasks import analyse_version
    from tests.training.helpers import SMALL_CSV

    client = login(owner)
    page = client.get(reverse("evaluation_detail", args=[finished.pk])).content.decode()
    assert "Error analysis" in page and "custom benchmark" in page
    start = reverse("evaluation_start", args=[trained_run.pk])
    response = client.post(start, {"dataset_version": str(trained_run.dataset_version_id)})
    assert response.status_code == 302 and Evaluation.objects.count() == 2
    # Another team's version, or nonsense, is refused and queues nothing.
    other_project = outsider.memberships.get().team.projects.create(
        name="theirs", created_by=outsider
    )
    login(outsider).post(
        reverse("dataset_upload", args=[other_project.pk]),
        {"file": SimpleUploadedFile("theirs.csv", SMALL_CSV)},
    )
    theirs = DatasetVersion.objects.get(dataset__project=other_project)
    analyse_version(str(theirs.pk))
    for value in (str(theirs.pk), "not-a-uuid"):
        page = login(owner).post(start, {"dataset_version": value}, follow=True).content.decode()
        assert "Choose one of this project" in page
    assert Evaluation.objects.count() == 2


def test_two_versions_compare_side_by_side(login, owner, outsider, viewer, finished, trained_run):
    second = queue_for_run(trained_run, owner)
    assert run_evaluation(str(second.pk)) == EvalStatus.SUCCEEDED
    url = reverse("evaluation_compare", args=[finished.project_id])
    page = login(viewer).get(url, {"a": finished.pk, "b": second.pk}).content.decode()
    assert "Token F1" in page and "not comparable" not in page
    assert login(viewer).get(url, {"a": "x", "b": "y"}).status_code == 200  # nothing chosen
    assert login(outsider).get(url, {"a": finished.pk, "b": second.pk}).status_code == 404


def test_the_base_model_alone_can_be_evaluated_on_a_project_test_set(
    login, owner, viewer, outsider, finished
):
    url = reverse("evaluation_start_base", args=[finished.pk])
    data = {"dataset_version": str(finished.dataset_version_id)}
    assert login(outsider).post(url, data).status_code == 404
    assert login(viewer).post(url, data).status_code == 403
    assert (
        "Choose one of this project"
        in login(owner).post(url, {"dataset_version": "x"}, follow=True).content.decode()
    )
    response = login(owner).post(url, data)
    base = Evaluation.objects.get(run__isnull=True)
    assert response["Location"] == reverse("evaluation_detail", args=[base.pk])
    assert run_evaluation(str(base.pk)) == EvalStatus.SUCCEEDED
    base.refresh_from_db()
    assert base.result["tuned"] is None and "only the base model" in base.result["judge"]["reason"]
    page = login(owner).get(reverse("evaluation_detail", args=[base.pk])).content.decode()
    assert "base model" in page and "Overall Quality Score" in page
