"""Two teams share one CPU inference server serving the bundled model: team A floods it with
odd and huge calls; team B's ordinary calls all still succeed. (How fast B's calls are under the
flood, against B alone, is bench/bench_serving.py's to measure: tests do not assert on time.)"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from apps.endpoints import keys
from apps.endpoints.models import Deployment, DeploymentStatus, Endpoint, EndpointStatus
from apps.projects.models import Project
from apps.training.models import TrainingRun
from workers.models.bundled import ensure_bundled_model
from workers.serving import load_model

from .flood import Flood, team_b_calls

pytestmark = pytest.mark.e2e


def serve_bundled(project, run, server_url: str, model_dir: str, name: str) -> Endpoint:
    """An endpoint whose live version is the bundled model, already loaded in the server."""
    endpoint = Endpoint.objects.create(
        project=project,
        name=name,
        status=EndpointStatus.LIVE,
        rate_limit_rpm=100_000,
        tokens_per_minute=10_000_000,
        timeout_s=30,
    )
    Deployment.objects.create(
        endpoint=endpoint,
        run=run,
        status=DeploymentStatus.READY,
        weight=100,
        backend="transformers",
        server_url=server_url,
        served_model=model_dir,
    )
    return endpoint


@pytest.fixture
def two_teams(serving, trained_run, owner, outsider, outsider_team):
    """Team A (the owner's) and team B (the outsider's), each with a key to the bundled model
    on the suite's one inference server."""
    model_dir = str(ensure_bundled_model(django_settings.MODEL_CACHE_DIR))
    load_model(serving, model_dir)
    project_b = Project.objects.create(team=outsider_team, name="B", created_by=outsider)
    run_b = TrainingRun.objects.create(
        project=project_b,
        number=1,
        base_model=trained_run.base_model,
        hardware=trained_run.hardware,
        dataset_version=trained_run.dataset_version,
        status="succeeded",
        adapter_dir=trained_run.adapter_dir,
    )
    a = serve_bundled(trained_run.project, trained_run, serving, model_dir, "team-a-bot")
    b = serve_bundled(project_b, run_b, serving, model_dir, "team-b-bot")
    _, key_a = keys.create_key(a.project, owner, "flood")
    _, key_b = keys.create_key(b.project, outsider, "calls")
    return (a.name, key_a), (b.name, key_b)


def test_a_flood_leaves_the_other_team_served(live_server_url, two_teams, settings):
    (name_a, key_a), (name_b, key_b) = two_teams
    team_b_calls(live_server_url, key_b, name_b, 1)  # warm: the first call pays for the load
    with Flood(live_server_url, key_a, name_a, callers=16, timeout=45) as flood:
        under_flood = team_b_calls(live_server_url, key_b, name_b, 6)
    print("team B under the flood:", [(r["status"], round(r["seconds"], 2)) for r in under_flood])
    print("team A got:", dict(flood.statuses))
    assert [r["status"] for r in under_flood] == [200] * 6, under_flood
    assert all(r["request_id"] and r["tokens"] for r in under_flood)
    seen = dict(flood.statuses)
    # A's odd calls were refused by name (400s), its excess waited for its share or got 429s;
    # none of it reached the server as an unchecked call, and the server never failed (502):
    # A's own long calls may pass their timeout (504) on a CPU.
    assert seen.get(400, 0) > 0, seen
    assert seen.get(429, 0) + seen.get(200, 0) > 0, seen
    assert 502 not in seen and 503 not in seen, seen
