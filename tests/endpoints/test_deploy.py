"""Deploying versions into the real server: the five steps, going live only after a health
check, rollbacks without a gap, A/B weights, and failures that say what went wrong."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from apps.endpoints import services
from apps.endpoints.gateway.calls import Call, route
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    EndpointStatus,
    InferenceServer,
    Replica,
    ReplicaState,
    ServerState,
)
from apps.endpoints.placement import merged_dir
from apps.endpoints.tasks import serve_deployment
from apps.training.models import TrainingRun

from .conftest import next_version


def test_first_deploy_goes_live_with_a_merged_copy(deployed):
    assert deployed.status == DeploymentStatus.READY and deployed.weight == 100
    assert deployed.endpoint.status == EndpointStatus.LIVE
    assert deployed.steps == [(name, "done") for name, _ in deployed.steps]
    merged = merged_dir(deployed.run)
    assert deployed.served_model == str(merged)
    assert (merged / "config.json").is_file() and (merged / "tokenizer_config.json").is_file()
    assert not (merged / "adapter_config.json").exists()  # a whole model, which the server can load
    assert deployed.deploy_seconds > 0
    # A redelivered task finds the deployment taken and does nothing.
    assert serve_deployment(str(deployed.pk)) == "skipped"


def second_version(deployed):
    return next_version(deployed.run)


def test_new_version_takes_traffic_only_after_its_health_check(deployed, owner):
    v2 = services.deploy_run(second_version(deployed), owner, deployed.endpoint)
    # Until the new one is checked, the old one keeps all the traffic.
    deployed.refresh_from_db()
    assert (v2.status, v2.weight, deployed.weight) == (DeploymentStatus.QUEUED, 0, 100)
    assert serve_deployment(str(v2.pk)) == "ready"
    v2.refresh_from_db()
    deployed.refresh_from_db()
    assert (v2.weight, deployed.weight) == (100, 0)
    assert deployed.status == DeploymentStatus.READY  # kept, for a rollback

    # Rollback: v1 is checked again, then takes the traffic back.
    services.activate(deployed)
    deployed.refresh_from_db()
    assert deployed.status == DeploymentStatus.QUEUED
    assert Deployment.objects.get(pk=v2.pk).weight == 100
    assert serve_deployment(str(deployed.pk)) == "ready"
    assert Deployment.objects.get(pk=deployed.pk).weight == 100
    assert Deployment.objects.get(pk=v2.pk).weight == 0


def test_failed_deploy_says_why_and_leaves_traffic_alone(deployed, owner, settings):
    # The server v1 is on takes nothing new (an operator drains it), and the only other one
    # configured does not answer.
    InferenceServer.objects.update(state=ServerState.DRAINING)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.INFERENCE_SERVER_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.SERVING_START_TIMEOUT_S = 1
    v2 = services.deploy_run(second_version(deployed), owner, deployed.endpoint)
    assert serve_deployment(str(v2.pk)) == "failed"
    v2.refresh_from_db()
    assert v2.status == DeploymentStatus.FAILED and "did not answer" in v2.error
    assert ("Starting the inference server", "failed") in v2.steps
    assert Deployment.objects.get(pk=deployed.pk).weight == 100
    assert Deployment.objects.get(pk=deployed.pk).endpoint.status == EndpointStatus.LIVE
    assert Replica.objects.get(deployment=deployed).state == ReplicaState.READY


def test_a_first_deploy_that_fails_marks_the_endpoint_failed(serving, trained_run, owner, settings):
    settings.SERVING_START_TIMEOUT_S = 1
    settings.INFERENCE_SERVER_URL = "http://127.0.0.1:9"
    deployment = services.deploy_run(trained_run, owner)
    assert serve_deployment(str(deployment.pk)) == "failed"
    deployment.endpoint.refresh_from_db()
    assert deployment.endpoint.status == EndpointStatus.FAILED


def test_only_finished_runs_with_a_model_deploy(trained_run, owner):
    TrainingRun.objects.filter(pk=trained_run.pk).update(status="running")
    trained_run.refresh_from_db()
    with pytest.raises(services.NotDeployable, match="finished"):
        services.deploy_run(trained_run, owner)
    TrainingRun.objects.filter(pk=trained_run.pk).update(status="succeeded", adapter_dir="/nowhere")
    trained_run.refresh_from_db()
    with pytest.raises(services.NotDeployable, match="no model"):
        services.deploy_run(trained_run, owner)


def test_ab_split_routes_by_weight_then_switches(deployed, owner):
    v2 = services.deploy_run(second_version(deployed), owner, deployed.endpoint)
    Deployment.objects.filter(pk=v2.pk).update(activate_when_ready=False)
    assert serve_deployment(str(v2.pk)) == "ready"
    v2.refresh_from_db()
    assert v2.weight == 0  # deployed as a candidate, no traffic yet
    services.start_ab(deployed.endpoint, v2, 20)
    assert [d.weight for d in services.ab_pair(deployed.endpoint)] == [80, 20]

    random.seed(7)
    live = services.ab_pair(deployed.endpoint)
    for version in live:
        version.routes = ("a replica",)  # what the gateway's directory attaches
    call = Call("chat.completions", endpoint=deployed.endpoint, live=live)
    picks = [route(call).pk for _ in range(1000)]
    share_b = picks.count(v2.pk) / len(picks)
    assert 0.15 < share_b < 0.25

    services.end_ab(deployed.endpoint, v2)  # "Switch to B"
    assert [(d.pk, d.weight) for d in services.ab_pair(deployed.endpoint)] == [(v2.pk, 100)]
    with pytest.raises(services.NotDeployable):
        services.start_ab(deployed.endpoint, v2, 100)


def test_delete_refuses_the_version_taking_traffic(deployed):
    with pytest.raises(services.NotDeployable, match="takes traffic"):
        services.delete_version(deployed)


def test_deploying_the_live_version_again_leaves_no_gap(deployed, owner):
    again = services.deploy_run(deployed.run, owner, deployed.endpoint)
    assert again.pk == deployed.pk
    again.refresh_from_db()
    assert (again.status, again.weight) == (DeploymentStatus.READY, 100)


def test_a_project_with_endpoints_can_be_deleted_files_and_all(
    login, owner, deployed, django_capture_on_commit_callbacks
):
    project, run = deployed.endpoint.project, deployed.run
    merged = merged_dir(run)
    version_folder = run.dataset_version.folder
    assert merged.is_dir() and version_folder.is_dir()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(owner).post(f"/projects/{project.pk}/delete/", {"confirm": project.name})
    assert response.status_code in (200, 302)
    assert not Deployment.objects.filter(pk=deployed.pk).exists()
    assert not merged.exists() and not version_folder.exists()
    assert not version_folder.parent.exists()  # the dataset's folder
    # The adapter of this test run lives outside the data directory: never touched.
    assert Path(run.adapter_dir).is_dir()


def test_the_project_reads_deployed_while_a_version_answers(deployed):
    from apps.projects.models import Project, ProjectStatus

    project = Project.objects.get(pk=deployed.endpoint.project_id)
    assert project.status == ProjectStatus.DEPLOYED
    services.set_stopped(deployed.endpoint, True)
    project.refresh_from_db()
    assert project.status == ProjectStatus.TRAINED  # nothing answers; a version is ready
    services.set_stopped(deployed.endpoint, False)
    project.refresh_from_db()
    assert project.status == ProjectStatus.DEPLOYED
