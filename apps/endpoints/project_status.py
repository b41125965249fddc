"""A project's status, from its runs and its deployments (this app is the highest of the two):
written on every change of either, so the project's pages follow those states."""

from __future__ import annotations

from apps.projects.live import broadcast_project_changed
from apps.projects.models import Project, ProjectStatus
from apps.training.models import ACTIVE, RunStatus, TrainingRun

from .models import Deployment, DeploymentStatus, EndpointStatus


def project_status(project_id) -> str:
    """The one rule for a project's status, first match wins:
    Deployed while a version of it answers (a ready deployment with traffic on an endpoint that
    is not stopped), Training while a run is active, Trained once a version is ready to deploy
    (a run that succeeded, or stopped with a checkpoint, left a model), else Draft."""
    if (
        Deployment.objects.filter(
            endpoint__project_id=project_id, status=DeploymentStatus.READY, weight__gt=0
        )
        .exclude(endpoint__status=EndpointStatus.STOPPED)
        .exists()
    ):
        return ProjectStatus.DEPLOYED
    runs = TrainingRun.objects.filter(project_id=project_id)
    if runs.filter(status__in=ACTIVE).exists():
        return ProjectStatus.TRAINING
    if (
        runs.filter(status__in=(RunStatus.SUCCEEDED, RunStatus.STOPPED))
        .exclude(adapter_dir="")
        .exists()
    ):
        return ProjectStatus.TRAINED
    return ProjectStatus.DRAFT


def sync_project_status(project_id) -> None:
    """Store the project's status (``project_status``) and, after commit, redraw the pages
    watching the project (status, sidebar entry, the dashboard's runs and endpoints). Every change
    of a run's, a deployment's or an endpoint's state calls it, so the pages follow those states
    even when the status itself stays the same."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    wanted = project_status(project_id)
    if project.status != wanted:
        Project.objects.filter(pk=project_id).update(status=wanted)
        project.status = wanted
    broadcast_project_changed(project)


def on_run_changed(sender, run, **kwargs) -> None:
    """A run changed state (training's `run_changed`, inside that transaction)."""
    sync_project_status(run.project_id)
