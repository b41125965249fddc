"""How the demo's finished example is started: by `seed_demo --showcase`, and again by the lower
apps' signals (docs/ARCHITECTURE.md): its deployment follows its evaluation's end, and a run the
reaper gave up on starts it over. The steps themselves are in showcase.py."""

from __future__ import annotations

import logging

from django.db import transaction

from apps.projects.models import Project
from apps.training.models import RunStatus

from .showcase import SHOWCASE_GOAL, SHOWCASE_NAME, deploy_when_evaluated
from .tasks import prepare_showcase

log = logging.getLogger(__name__)


def ensure_showcase(user, team) -> bool:
    """Create the showcase project if missing and queue whatever it still lacks. True if queued."""
    project, _ = Project.objects.get_or_create(
        team=team,
        name=SHOWCASE_NAME,
        defaults={"goal": SHOWCASE_GOAL, "created_by": user, "showcase": True},
    )
    if project.runs.filter(deployments__isnull=False).exists():
        return False
    transaction.on_commit(lambda: prepare_showcase.delay(str(project.pk)))
    return True


def on_evaluation_finished(sender, evaluation, **kwargs) -> None:
    """The showcase deploys when its run's evaluation ends, whatever happened in between."""
    project = evaluation.project
    if not project.showcase or evaluation.run is None:
        return
    if evaluation.run.status == RunStatus.SUCCEEDED:
        with transaction.atomic():
            log.info("showcase: %s", deploy_when_evaluated(evaluation.run, project.created_by))


# A run the reaper gave up on (its worker lost again and again: the run command stopped during
# the first minutes, several times) is tried afresh, up to this many failed runs in all; a run
# that fails for a reason of its own would fail the same way each time.
MAX_FAILED_RUNS = 3


def on_run_finished(sender, run, **kwargs) -> None:
    """The showcase starts over when its run failed, so it still completes by itself."""
    project = run.project
    if not project.showcase or run.status != RunStatus.FAILED:
        return
    runs = project.runs.all()
    if runs.filter(status=RunStatus.SUCCEEDED).exists():
        return
    if runs.filter(status=RunStatus.FAILED).count() >= MAX_FAILED_RUNS:
        log.warning("showcase: %s failed runs, not trying again", MAX_FAILED_RUNS)
        return
    prepare_showcase.delay(str(project.pk))
