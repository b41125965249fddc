"""Alerts stay on the run and show as banners; the whole log downloads as text, team only."""

import pytest
from django.urls import reverse

from apps.training.reporting import DatabaseReporter

pytestmark = pytest.mark.django_db


def reporter_for(run):
    return DatabaseReporter(run, run.log_path)


def test_an_alert_is_kept_and_shown_on_the_progress_panel(login, owner, queued_run):
    reporter = reporter_for(queued_run)
    reporter.metrics({"step": 7, "total_steps": 20, "loss": 1.0})
    reporter.alert("loss_rising", "Loss went up for 5 logging steps: try a lower learning rate.")
    queued_run.refresh_from_db()
    assert queued_run.alerts == [
        {
            "code": "loss_rising",
            "message": "Loss went up for 5 logging steps: try a lower learning rate.",
            "step": 7,
        }
    ]
    html = login(owner).get(reverse("run_progress", args=[queued_run.pk])).content.decode()
    assert "Loss went up for 5 logging steps" in html and "(step 7)" in html


def test_the_whole_log_downloads_as_text(login, owner, viewer, outsider, queued_run):
    url = reverse("run_log", args=[queued_run.pk])
    assert login(owner).get(url).status_code == 404  # nothing written yet, and it says so
    reporter = reporter_for(queued_run)
    for i in range(80):  # more than the 50-line tail on the page
        reporter.log(f"line {i}")
    response = login(viewer).get(url)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    assert "line 0" in text and "line 79" in text
    assert response["Content-Type"].startswith("text/plain")
    assert login(outsider).get(url).status_code == 404
