"""Serving beyond one server, against local servers that answer as vLLM does: an endpoint's
replicas are real (each call to the least busy, a server that cannot be reached skipped with no
call lost), versions of one base share a server, a server that stops answering is drained and
its versions placed elsewhere, and the page shows each replica with its health and traffic."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from django.urls import reverse

from apps.billing.models import Plan
from apps.endpoints import keys, placement, serving
from apps.endpoints.models import (
    Deployment,
    DeploymentStatus,
    Endpoint,
    EndpointStatus,
    InferenceServer,
    Replica,
    ReplicaState,
    RequestLog,
    ServerKind,
    ServerState,
)
from apps.endpoints.services import deploy_run
from apps.endpoints.tasks import check_servers, serve_deployment
from tests.fakes.vllm_api import FakeVLLM

from .conftest import bearer, next_version


@pytest.fixture
def plans(db):
    """Every plan allows 4 replicas here (the figures are data: admin-edited rows)."""
    Plan.objects.update(max_replicas=4)


@pytest.fixture
def gpus(settings, plans):
    """Three GPU servers holding the version's base; the first is the configured one."""
    with FakeVLLM() as a, FakeVLLM() as b, FakeVLLM() as c:
        settings.INFERENCE_BACKEND = "vllm"
        settings.INFERENCE_SERVER_URL = a.url
        settings.SERVER_FAILURES_BEFORE_DOWN = 2
        for name, fake in (("gpu-a", a), ("gpu-b", b), ("gpu-c", c)):
            InferenceServer.objects.create(
                name=name, kind=ServerKind.VLLM, url=fake.url, capacity=4, slots=8
            )
        yield a, b, c


def deploy(run, owner, replicas=1, endpoint=None) -> Deployment:
    deployment = deploy_run(run, owner, endpoint)
    Endpoint.objects.filter(pk=deployment.endpoint_id).update(replicas=replicas)
    assert serve_deployment(str(deployment.pk)) == "ready", Deployment.objects.get(
        pk=deployment.pk
    ).error
    return Deployment.objects.select_related("endpoint__project").get(pk=deployment.pk)


def chat(client, deployment, raw_key):
    return client.post(
        "/v1/chat/completions",
        json.dumps(
            {
                "model": deployment.endpoint.name,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 3,
            }
        ),
        content_type="application/json",
        **bearer(raw_key),
    )


def servers_of(deployment) -> list[str]:
    return sorted(
        Replica.objects.filter(deployment=deployment, state=ReplicaState.READY).values_list(
            "server__name", flat=True
        )
    )


def test_two_replicas_answer_and_the_page_shows_both_with_their_traffic(
    gpus, trained_run, owner, login
):
    a, b, c = gpus
    deployment = deploy(trained_run, owner, replicas=2)
    # The least loaded servers, and each replica health-checked through its own server.
    assert servers_of(deployment) == ["gpu-a", "gpu-b"]
    name = deployment.served_model
    assert a.adapters == b.adapters == {name: trained_run.adapter_dir} and not c.adapters

    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    client = login(owner)
    for _ in range(30):
        assert chat(client, deployment, raw).status_code == 200
    # Health checks answered one each; the 30 calls split between the two.
    calls_a, calls_b = len(a.answered) - 1, len(b.answered) - 1
    assert calls_a + calls_b == 30 and calls_a > 0 and calls_b > 0
    logged = RequestLog.objects.filter(endpoint=deployment.endpoint)
    assert logged.filter(replica_id__isnull=False).count() == 30

    page = client.get(reverse("endpoint_detail", args=[deployment.endpoint_id]))
    html = page.content.decode()
    assert 'id="replica-table"' in html and html.count('class="replica-ready"') == 2
    rows = {row.server: row for row in page.context["replicas"]}
    assert (rows["gpu-a"].calls, rows["gpu-b"].calls) == (calls_a, calls_b)
    assert rows["gpu-a"].share + rows["gpu-b"].share == 100


def test_a_server_killed_mid_load_loses_no_call_and_is_shown_down(
    gpus, trained_run, owner, login, settings
):
    a, b, _ = gpus
    deployment = deploy(trained_run, owner, replicas=2)
    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    client = login(owner)
    for _ in range(5):
        assert chat(client, deployment, raw).status_code == 200
    b.__exit__(None, None, None)  # the process dies: its port refuses connections
    statuses = [chat(client, deployment, raw).status_code for _ in range(20)]
    # Each call that met the dead server went to the other replica: none failed.
    assert statuses == [200] * 20
    server_b = InferenceServer.objects.get(url=b.url)
    # This process stopped trying it after one refusal (the other processes count theirs
    # too); two failed health checks take it out of every process's routing.
    assert server_b.state == ServerState.HEALTHY
    check_servers()
    assert check_servers()["down"] == [b.url]
    page = client.get(reverse("endpoint_detail", args=[deployment.endpoint_id]))
    rows = {row.server: row for row in page.context["replicas"]}
    assert rows["gpu-b"].state == "down" and rows["gpu-b"].label.startswith("Not answering since")
    assert rows["gpu-a"].state == "ready"
    assert RequestLog.objects.filter(endpoint=deployment.endpoint, status_code=200).count() == 25


def test_refused_connections_in_a_short_while_take_a_server_out_of_routing(
    gpus, trained_run, owner, login, settings
):
    """Without waiting for a health round: GATEWAY_UNREACHABLE_BEFORE_DOWN refusals (counted
    across processes) mark the server down, and every process's directory drops it."""
    settings.GATEWAY_UNREACHABLE_BEFORE_DOWN = 1
    a, b, _ = gpus
    deployment = deploy(trained_run, owner, replicas=2)
    b.__exit__(None, None, None)
    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    client = login(owner)
    assert [chat(client, deployment, raw).status_code for _ in range(10)] == [200] * 10
    server_b = InferenceServer.objects.get(url=b.url)
    assert server_b.state == ServerState.DOWN and "could not reach" in server_b.error
    assert Replica.objects.get(deployment=deployment, server=server_b).state == "down"


def test_a_connection_dropped_before_any_answer_is_retried_on_another_replica(
    gpus, trained_run, owner, login
):
    """A server that takes the request and closes the connection without a byte: the caller
    has had nothing, so the call goes to the other replica."""
    a, b, _ = gpus
    deployment = deploy(trained_run, owner, replicas=2)
    dropper = socket.socket()
    dropper.bind(("127.0.0.1", 0))
    dropper.listen(16)

    def drop_all():
        while True:
            try:
                conn, _ = dropper.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=drop_all, daemon=True).start()
    url = f"http://127.0.0.1:{dropper.getsockname()[1]}"
    InferenceServer.objects.filter(url=b.url).update(url=url)
    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    client = login(owner)
    try:
        assert [chat(client, deployment, raw).status_code for _ in range(10)] == [200] * 10
    finally:
        dropper.close()
    assert len(a.answered) - 1 == 10  # every call answered by the replica that answers


def test_one_replica_unreachable_is_a_502_that_says_so(gpus, trained_run, owner, login):
    a, _, _ = gpus
    deployment = deploy(trained_run, owner, replicas=1)
    a.__exit__(None, None, None)
    _, raw = keys.create_key(deployment.endpoint.project, owner, "tests")
    response = chat(login(owner), deployment, raw)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


def test_a_down_server_is_drained_its_versions_placed_elsewhere_and_it_comes_back(
    gpus, trained_run, owner
):
    a, b, c = gpus
    deployment = deploy(trained_run, owner, replicas=2)
    assert servers_of(deployment) == ["gpu-a", "gpu-b"]
    b.__exit__(None, None, None)

    first = check_servers()  # one failed check: not down yet (a slow answer is not a dead server)
    assert first["down"] == [] and not first["added"]
    second = check_servers()
    assert second["down"] == [b.url]
    # Placed again on the server with room; the worker's task loads it there.
    (added,) = second["added"]
    replica = Replica.objects.select_related("server").get(pk=added)
    assert replica.server.url == c.url and replica.state == ReplicaState.LOADING
    assert serving.serve_replica(added) == "ready"
    assert c.adapters == {deployment.served_model: trained_run.adapter_dir}
    # Enough answer again: the down replica is dropped at the next round.
    third = check_servers()
    assert servers_of(deployment) == ["gpu-a", "gpu-c"]
    assert not Replica.objects.filter(deployment=deployment, server__url=b.url).exists()
    assert third["down"] == [] and not third["added"]

    # A server that answers again takes calls again (a restarted vLLM that lost its adapters
    # loads them again).
    with FakeVLLM() as back:
        server_b = InferenceServer.objects.get(url=b.url)
        InferenceServer.objects.filter(pk=server_b.pk).update(url=back.url)
        report = check_servers()
        assert report["up"] == [back.url]
        assert InferenceServer.objects.get(pk=server_b.pk).state == ServerState.HEALTHY


def test_versions_of_one_base_share_a_server_and_a_full_one_unloads_only_an_idle_adapter(
    settings, plans, trained_run, owner
):
    with FakeVLLM() as gpu:
        settings.INFERENCE_BACKEND = "vllm"
        settings.INFERENCE_SERVER_URL = gpu.url
        InferenceServer.objects.create(
            name="one", kind=ServerKind.VLLM, url=gpu.url, capacity=2, base_model="other/base"
        )
        # A server started with another base takes none of this base's adapters.
        deployment = deploy_run(trained_run, owner)
        assert serve_deployment(str(deployment.pk)) == "failed"
        deployment.refresh_from_db()
        assert "No GPU server holds" in deployment.error
        InferenceServer.objects.filter(url=gpu.url).update(
            base_model=str(trained_run.base_model.source)
        )

        v1 = deploy(trained_run, owner)
        v2_run = next_version(trained_run)
        v2 = deploy(v2_run, owner)  # another endpoint, the same base
        assert set(gpu.adapters) == {v1.served_model, v2.served_model}  # one server, two adapters
        # Full: a third version finds no room while both are live.
        v3_run = next_version(v2_run)
        refused = deploy_run(v3_run, owner)
        assert serve_deployment(str(refused.pk)) == "failed"
        refused.refresh_from_db()
        assert "full" in refused.error
        # v1's endpoint stops: its adapter is idle, and the next version takes its place.
        Endpoint.objects.filter(pk=v1.endpoint_id).update(status=EndpointStatus.STOPPED)
        v3 = deploy(v3_run, owner, endpoint=refused.endpoint)
        assert gpu.unloaded == [v1.served_model]
        assert set(gpu.adapters) == {v2.served_model, v3.served_model}
        assert Deployment.objects.get(pk=v2.pk).status == DeploymentStatus.READY


def test_a_gpu_trained_version_goes_to_a_cpu_server_only_when_allowed(
    settings, plans, trained_run, owner
):
    from apps.catalog.models import Hardware

    gpu_hardware = Hardware.objects.filter(is_cpu=False).first()
    trained_run.__class__.objects.filter(pk=trained_run.pk).update(hardware=gpu_hardware)
    trained_run.refresh_from_db()
    settings.INFERENCE_BACKEND = "transformers"
    settings.INFERENCE_SERVER_URL = "http://127.0.0.1:9"  # a CPU server row; never reached
    deployment = deploy_run(trained_run, owner)
    with pytest.raises(placement.NoRoom, match="trained on a GPU"):
        placement.choose(deployment, 1)
    assert [s.kind for s in placement.choose(deployment, 1, allow_cpu=True)] == ["cpu"]


def test_the_deploy_button_asks_before_a_gpu_trained_version_goes_to_a_cpu(
    settings, plans, trained_run, owner, login
):
    from apps.catalog.models import Hardware

    gpu_hardware = Hardware.objects.filter(is_cpu=False).first()
    trained_run.__class__.objects.filter(pk=trained_run.pk).update(hardware=gpu_hardware)
    client = login(owner)
    page = client.get(reverse("run_config", args=[trained_run.pk])).content.decode()
    assert 'name="allow_cpu"' in page
    client.post(reverse("run_deploy", args=[trained_run.pk]), {"endpoint": "", "allow_cpu": "on"})
    assert Deployment.objects.get(run=trained_run).allow_cpu is True


def test_the_replica_count_is_capped_by_the_plan_and_starts_a_reconcile(
    gpus, trained_run, owner, login
):
    deployment = deploy(trained_run, owner, replicas=1)
    Plan.objects.update(max_replicas=2)
    client = login(owner)
    url = reverse("endpoint_settings", args=[deployment.endpoint_id])
    fields = {"rate_limit_rpm": 100, "tokens_per_minute": 1000, "timeout_s": 30}
    response = client.post(url, {**fields, "replicas": 3})
    assert response.status_code == 400
    assert "allows up to 2 replicas" in response.content.decode()
    assert Endpoint.objects.get(pk=deployment.endpoint_id).replicas == 1
    for bad in ("0", "-1", "two", "9999"):
        assert client.post(url, {**fields, "replicas": bad}).status_code == 400
    response = client.post(url, {**fields, "replicas": 2})
    assert response.status_code == 302
    assert Endpoint.objects.get(pk=deployment.endpoint_id).replicas == 2
    report = placement.reconcile(deployment.endpoint_id)  # what the queued task runs
    assert len(report["added"]) == 1
    assert serving.serve_replica(report["added"][0]) == "ready"
    assert len(servers_of(deployment)) == 2
    # Down to one again: the newest goes, and its adapter is unloaded.
    Endpoint.objects.filter(pk=deployment.endpoint_id).update(replicas=1)
    report = placement.reconcile(deployment.endpoint_id)
    assert len(report["removed"]) == 1 and len(servers_of(deployment)) == 1


def test_another_teams_endpoint_settings_are_a_404(gpus, trained_run, owner, login, outsider):
    deployment = deploy(trained_run, owner)
    url = reverse("endpoint_settings", args=[deployment.endpoint_id])
    response = login(outsider).post(url, {"replicas": 2})
    assert response.status_code == 404
    assert Endpoint.objects.get(pk=deployment.endpoint_id).replicas == 1


ANNOUNCED = {
    "url": "http://10.0.0.7:8100/",
    "kind": "vllm",
    "base_model": "Qwen/Qwen2.5-7B-Instruct",
    "capacity": 4,
}


def announce(client, body, token="s3cret-server-token"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("server_announce"), data, content_type="application/json", **headers)


def test_a_server_announces_itself_with_the_token_and_bad_announcements_are_refused(
    client, db, settings
):
    settings.SERVER_ANNOUNCE_TOKEN = "s3cret-server-token"
    assert announce(client, ANNOUNCED, token=None).status_code == 401
    assert announce(client, ANNOUNCED, token="wrong").status_code == 401
    response = announce(client, ANNOUNCED)
    assert response.status_code == 200, response.content
    server = InferenceServer.objects.get()
    assert (server.url, server.kind, server.base_model, server.capacity) == (
        "http://10.0.0.7:8100",
        "vllm",
        "Qwen/Qwen2.5-7B-Instruct",
        4,
    )
    assert server.slots == settings.INFERENCE_SERVER_SLOTS  # not said: the default
    # Announcing again (a restart) updates the same row.
    assert announce(client, {**ANNOUNCED, "capacity": 8}).status_code == 200
    assert InferenceServer.objects.get().capacity == 8
    for bad in (
        {**ANNOUNCED, "kind": "tpu"},
        {**ANNOUNCED, "kind": "runpod"},  # made by VibeFlow only: calls to it carry the key
        {**ANNOUNCED, "url": "file:///etc/passwd"},
        {**ANNOUNCED, "url": "not a url"},
        {**ANNOUNCED, "capacity": 0},
        {**ANNOUNCED, "capacity": "many"},
        {**ANNOUNCED, "base_model": "x" * 301},
        [ANNOUNCED],
        "{not json",
    ):
        response = announce(client, bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]
    assert InferenceServer.objects.count() == 1
    settings.SERVER_ANNOUNCE_TOKEN = ""  # off: the route is not there
    assert announce(client, ANNOUNCED, token="").status_code == 404


def test_the_node_script_announces_its_server(live_server, settings):
    from workers.serving.announce import announce as send

    settings.SERVER_ANNOUNCE_TOKEN = "s3cret-server-token"
    with FakeVLLM() as gpu:
        answer = send(
            live_server.url,
            "s3cret-server-token",
            {"url": gpu.url, "kind": "vllm", "base_model": "base-model", "capacity": 2},
        )
    server = InferenceServer.objects.get(url=gpu.url)
    assert answer == {"id": str(server.pk), "name": server.name, "state": "healthy"}
    from workers.serving import ServerError

    with pytest.raises(ServerError, match="refused \\(401\\)"):
        send(live_server.url, "wrong", {"url": gpu.url, "kind": "vllm"})
