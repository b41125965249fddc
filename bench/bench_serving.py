"""Serving the bundled model: the gateway + `transformers serve` against calling transformers'
generate directly in a loop, at concurrency 1, 8 and 32.

Sets up, in the database of DATABASE_URL (unset: the embedded PostgreSQL and Redis, started
and migrated under var/bench/ and stopped at the end, by bench/_stack.py), a project whose
version is the bundled SmolLM2-135M-Instruct with a LoRA adapter (freshly initialised: peft
starts B at zero, so it serves exactly like a trained one of the same rank), deploys it
through the real deploy task into a `transformers serve` child process, and starts Daphne for
the gateway. Then:

1. the sequential baseline: the merged model loaded here, `generate` for one request at a time;
2. gateway overhead: max_tokens=1 requests, alternating straight to the server and through the
   gateway, p50 of each and the difference (target: under 5 ms);
3. through the gateway at concurrency 1, 8 and 32: requests/s, completion tokens/s, p50/p95
   latency, and the tokens/s ratio to the baseline (target at 8 and above: above 1);
4. the error paths: the server's 500 relayed as a 502, and a call refused at admission;
5. two teams: team B's p50 alone, then while team A floods the server with odd and huge
   calls (tests/endpoints/flood.py), and the ratio (target: at most 2x);
6. two replicas: a second `transformers serve` registered as a server, the endpoint set to 2
   replicas (the real placement and loading), c=32 again: tokens/s as a ratio to one replica,
   the calls each replica answered, and the gateway's added p50 with two to choose from.

    .venv/bin/python bench/bench_serving.py [--tokens 32] [--overhead-requests 40]
        [--kv-cache-gb 1.0]   (continuous batching's cache; 0: off)
        [--flood-callers 16] [--flood-calls 8] [--skip-replicas]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import django_stack  # noqa: E402

PROMPTS = [
    "How do I reset my password?",
    "Can I get a refund for last month?",
    "Where do I download my invoices?",
    "How do I add a teammate to my plan?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers 200; gives up early when ``process`` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def pct(values, q):
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def baseline(model_dir: str, n: int, tokens: int, device: str = "cpu") -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    latencies, produced = [], 0
    warm = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    ).to(device)
    with torch.no_grad():
        model.generate(**warm, max_new_tokens=2, do_sample=False)
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        ).to(device)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=tokens, do_sample=False)
        produced += out.shape[-1] - ids["input_ids"].shape[-1]
        latencies.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - started
    return {
        "rps": n / wall,
        "tps": produced / wall,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
    }


def load(url: str, headers: dict, model: str, concurrency: int, n: int, tokens: int) -> dict:
    def one(i):
        t0 = time.perf_counter()
        response = httpx.post(
            url,
            json={
                "model": model,
                "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                "max_tokens": tokens,
            },
            headers=headers,
            timeout=600,
        )
        response.raise_for_status()
        return (time.perf_counter() - t0) * 1000, response.json()["usage"]["completion_tokens"]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - started
    latencies = [r[0] for r in results]
    return {
        "rps": n / wall,
        "tps": sum(r[1] for r in results) / wall,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
    }


class NullServer:
    """Answers every chat completion at once with a fixed one-token answer: with it, what the
    gateway adds is measured apart from the model (whose CPU threads compete with Daphne's on a
    2-core machine)."""

    def __enter__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "null",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "length",
                        "message": {"role": "assistant", "content": "Hi"},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        ).encode()
        # A prompt saying "fail" gets the server's 500 (the gateway's 502 path).
        failing_body = json.dumps({"error": "Internal Server Error"}).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

            def log_message(self, *a):
                pass

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                failing = "fail" in json.dumps(request.get("messages"))
                self.send_response(500 if failing else 200)
                answer = failing_body if failing else body
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def overhead(direct, gateway, auth, served, name, n, say="Hi", expect=200) -> tuple[float, float]:
    """p50 straight to the server and through the gateway, one kept-alive connection each,
    alternating so drift hits both. ``say="fail"``: the null server's 500, the gateway's 502."""

    def timed(client, url, headers, model):
        t0 = time.perf_counter()
        response = client.post(
            url,
            json={"model": model, "messages": [{"role": "user", "content": say}], "max_tokens": 1},
            headers=headers,
        )
        wanted = 500 if (expect != 200 and url == direct) else expect
        assert response.status_code == wanted, (response.status_code, response.text[:200])
        return (time.perf_counter() - t0) * 1000

    d, g = [], []
    with httpx.Client(timeout=60) as to_server, httpx.Client(timeout=60) as to_gateway:
        for _ in range(4):
            timed(to_server, direct, {}, served)
            timed(to_gateway, gateway, auth, name)
        for _ in range(n):
            d.append(timed(to_server, direct, {}, served))
            g.append(timed(to_gateway, gateway, auth, name))
    return statistics.median(d), statistics.median(g)


def refusal_p50(gateway, auth, name, n) -> float:
    """A call refused at admission (an unknown parameter): the gateway alone."""
    times = []
    body = {"model": name, "messages": [{"role": "user", "content": "Hi"}], "nope": 1}
    with httpx.Client(timeout=60) as client:
        for _ in range(n + 4):
            t0 = time.perf_counter()
            response = client.post(gateway, json=body, headers=auth)
            assert response.status_code == 400, response.text[:200]
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[4:])


def flood_ratio(args, project, run, served, server_url, user, log) -> None:
    """Team B's p50 alone, then while team A floods the same server with odd and huge calls,
    through a web process with the product's default limits (the load test above raised them)."""
    from apps.accounts.models import User
    from apps.endpoints import keys
    from apps.projects.models import Project
    from apps.training.models import TrainingRun
    from tests.endpoints.flood import Flood, p50, team_b_calls
    from tests.endpoints.test_fair_sharing import serve_bundled

    other = User.objects.create_user(f"bench-b-{time.time_ns()}@example.invalid", None)
    try:
        project_b = Project.objects.create(
            team=other.memberships.get().team, name="bench B", created_by=other
        )
        run_b = TrainingRun.objects.create(
            project=project_b,
            number=1,
            base_model=run.base_model,
            hardware=run.hardware,
            dataset_version=run.dataset_version,
            status="succeeded",
            adapter_dir=run.adapter_dir,
        )
        a = serve_bundled(project, run, server_url, served, "flood-a")
        b = serve_bundled(project_b, run_b, server_url, served, "flood-b")
        _, key_a = keys.create_key(project, user)
        _, key_b = keys.create_key(project_b, other)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        web = subprocess.Popen(
            [sys.executable, "-m", "vibeflow_site.processes", "web", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(url + "/healthz", process=web)
            team_b_calls(url, key_b, b.name, 2)  # warm
            alone = team_b_calls(url, key_b, b.name, args.flood_calls)
            with Flood(url, key_a, a.name, callers=args.flood_callers, timeout=60) as flood:
                time.sleep(3)  # the flood under way
                flooded = team_b_calls(url, key_b, b.name, args.flood_calls)
            ok = sum(r["status"] == 200 for r in flooded)
            print(
                f"two teams: B alone p50 {p50(alone) * 1000:.0f} ms; B while A floods with "
                f"{args.flood_callers} callers p50 {p50(flooded) * 1000:.0f} ms -> "
                f"{p50(flooded) / p50(alone):.2f}x (target <= 2x); B ok {ok}/{len(flooded)}; "
                f"A got {dict(sorted(flood.statuses.items(), key=str))}"
            )
        finally:
            web.terminate()
            web.wait(15)
    finally:
        other.delete()


def two_replicas(args, deployment, gateway, direct, auth, served, name, one, log):
    """A second CPU server, the endpoint at 2 replicas through the real placement and loading,
    then c=32 again. Returns the second server's process (the caller stops it)."""
    import torch
    from django.db.models import Count

    from apps.endpoints import placement, serving
    from apps.endpoints.models import Endpoint, InferenceServer, RequestLog
    from workers.serving.cpu_server import kv_cache_gb_from_env, serve_command

    if one is None:
        one = load(gateway, auth, name, 32, 32, args.tokens)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    kv_cache_gb = kv_cache_gb_from_env() if args.kv_cache_gb is None else args.kv_cache_gb
    second = subprocess.Popen(
        serve_command(port, kv_cache_gb=kv_cache_gb), stdout=log, stderr=subprocess.STDOUT
    )
    wait_http(url + "/health", process=second)
    InferenceServer.objects.create(name="second CPU server", kind="cpu", url=url, slots=64)
    Endpoint.objects.filter(pk=deployment.endpoint_id).update(replicas=2)
    started = time.perf_counter()
    (added,) = placement.reconcile(deployment.endpoint_id)["added"]
    if serving.serve_replica(added) != "ready":
        from apps.endpoints.models import Replica

        raise RuntimeError(f"the second replica failed: {Replica.objects.get(pk=added).error}")
    print(f"\nsecond replica placed and loaded in {time.perf_counter() - started:.1f} s")
    since = RequestLog.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    two = load(gateway, auth, name, 32, 32, args.tokens)
    answered = dict(
        RequestLog.objects.filter(endpoint_id=deployment.endpoint_id, created_at__gt=since)
        .values_list("replica_id")
        .annotate(n=Count("id"))
    )
    print(
        f"two replicas c=32 (32 requests, {torch.get_num_threads()} CPU threads shared by both "
        f"servers): {two['rps']:.2f} req/s, {two['tps']:.1f} tok/s, p50 {two['p50']:.0f} ms, "
        f"p95 {two['p95']:.0f} ms -> tok/s ratio {two['tps'] / one['tps']:.2f}x one replica "
        f"({one['tps']:.1f} tok/s); calls per replica {sorted(answered.values())}"
    )
    d, g = overhead(direct, gateway, auth, served, name, args.overhead_requests)
    print(
        f"max_tokens=1 on the model with two replicas: server p50 {d:.1f} ms, gateway p50 "
        f"{g:.1f} ms -> {g - d:.1f} ms added (target < 5 ms)"
    )
    return second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument(
        "--kv-cache-gb",
        type=float,
        default=None,
        help="continuous batching's cache budget (0: off; default: the product's, INFERENCE_KV_CACHE_GB)",
    )
    parser.add_argument("--overhead-requests", type=int, default=40)
    parser.add_argument("--only-overhead", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="leave out the c=1/8/32 part")
    parser.add_argument("--skip-replicas", action="store_true", help="leave out the 2-replica part")
    parser.add_argument("--flood-callers", type=int, default=16)
    parser.add_argument("--flood-calls", type=int, default=8, help="team B's calls each time")
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="daphne",
        help="the ASGI server in front of the site (deploy/Procfile: web is daphne, api uvicorn)",
    )
    args = parser.parse_args()
    with django_stack():
        measure(args)


def measure(args: argparse.Namespace) -> None:
    import torch
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from apps.accounts.models import User
    from apps.catalog.models import BaseModel, Hardware
    from apps.datasets.models import DatasetVersion
    from apps.datasets.tasks import analyse_version
    from apps.endpoints import keys
    from apps.endpoints.services import deploy_run
    from apps.endpoints.tasks import serve_deployment
    from apps.projects.models import Project
    from apps.training.models import TrainingRun
    from workers.models.bundled import ensure_bundled_model

    base_dir = ensure_bundled_model(settings.MODEL_CACHE_DIR)
    adapter_dir = Path(tempfile.mkdtemp(prefix="bench-adapter-"))
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    get_peft_model(base, lora).save_pretrained(adapter_dir)
    del base

    server_port, web_port = free_port(), free_port()
    server_url, web_url = f"http://127.0.0.1:{server_port}", f"http://127.0.0.1:{web_port}"
    from workers.serving.cpu_server import kv_cache_gb_from_env, serve_command

    kv_cache_gb = kv_cache_gb_from_env() if args.kv_cache_gb is None else args.kv_cache_gb
    serve_cmd = serve_command(server_port, kv_cache_gb=kv_cache_gb)
    log = open(Path(tempfile.gettempdir()) / "bench-serving.log", "ab")
    children = [
        subprocess.Popen(serve_cmd, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(web_port),
                "vibeflow_site.asgi:application",
            ]
            if args.server == "daphne"
            else [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(web_port),
                "--no-access-log",
                "--log-level",
                "warning",
                "vibeflow_site.asgi:application",
            ],
            cwd=ROOT,
            # As the run command, with the per-key and per-server limits on calls in flight
            # raised: this part measures batching (32 callers, one key); the two-team part
            # below runs with the product's defaults.
            env={
                **os.environ,
                "LOG_LEVEL": "WARNING",
                "DB_POOL": "1",
                "GATEWAY_MAX_IN_FLIGHT_PER_KEY": "64",
                "GATEWAY_MAX_IN_FLIGHT_PER_TEAM": "64",
                "INFERENCE_SERVER_SLOTS": "64",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    settings.INFERENCE_SERVER_URL = server_url
    user = User.objects.create_user(f"bench-{time.time_ns()}@example.invalid", None)
    try:
        wait_http(server_url + "/health")
        wait_http(web_url + "/healthz")
        project = Project.objects.create(
            team=user.memberships.get().team, name="bench", created_by=user
        )
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        client.post(reverse("dataset_sample", args=[project.pk, "customer-support"]))
        version = DatasetVersion.objects.get(dataset__project=project)
        analyse_version(str(version.pk))
        run = TrainingRun.objects.create(
            project=project,
            number=1,
            base_model=BaseModel.objects.get(bundled=True),
            hardware=Hardware.objects.filter(is_cpu=True).first(),
            dataset_version=version,
            status="succeeded",
            adapter_dir=str(adapter_dir),
        )
        deployment = deploy_run(run, user)
        started = time.perf_counter()
        assert serve_deployment(str(deployment.pk)) == "ready"
        deployment.refresh_from_db()
        print(f"deploy (merge + load + health check): {time.perf_counter() - started:.1f} s")
        endpoint = deployment.endpoint
        # Limits out of the way: the plan caps requests per key, so the bench team is Enterprise.
        from apps.billing.metering import account_for
        from apps.billing.models import Plan

        account = account_for(project.team_id)
        account.plan = Plan.objects.get(slug="enterprise")
        account.save()
        endpoint.rate_limit_rpm = endpoint.tokens_per_minute = 10_000_000
        endpoint.timeout_s = 300  # 32 queued requests on a CPU outlast the 30 s default
        endpoint.save()
        from apps.endpoints.models import InferenceServer, Replica

        # The server's own place count, raised like the per-key limits (one key, 32 callers).
        InferenceServer.objects.filter(url=server_url).update(slots=64)

        def serve_from(url: str) -> None:
            server, _ = InferenceServer.objects.get_or_create(
                url=url, defaults={"name": url, "slots": 64}
            )
            Replica.objects.filter(deployment=deployment).update(server=server)

        _, raw = keys.create_key(project, user)
        auth = {"Authorization": f"Bearer {raw}"}
        gateway = f"{web_url}/v1/chat/completions"
        direct = f"{server_url}/v1/chat/completions"
        name, served = endpoint.name, deployment.served_model

        print(
            f"\nCPU threads: {torch.get_num_threads()}, max_tokens {args.tokens}, "
            f"continuous batching: {f'on, {kv_cache_gb:g} GB cache' if kv_cache_gb else 'off'}, "
            f"ASGI server: {args.server}"
        )
        base_stats = baseline(served, 8, args.tokens)
        print(
            f"baseline generate loop : {base_stats['rps']:.2f} req/s, {base_stats['tps']:.1f} tok/s, "
            f"p50 {base_stats['p50']:.0f} ms, p95 {base_stats['p95']:.0f} ms"
        )

        with NullServer() as null:
            serve_from(null.url)
            d, g = overhead(
                f"{null.url}/v1/chat/completions",
                gateway,
                auth,
                served,
                name,
                args.overhead_requests,
            )
            print(
                f"gateway overhead (instant upstream): direct p50 {d:.1f} ms, gateway p50 "
                f"{g:.1f} ms -> {g - d:.1f} ms added (target < 5 ms), ratio {g / d:.2f}x"
            )
            direct_ok = d
            d, g = overhead(
                f"{null.url}/v1/chat/completions",
                gateway,
                auth,
                served,
                name,
                args.overhead_requests,
                say="fail",
                expect=502,
            )
            print(
                f"error path (upstream 500 -> 502): direct p50 {d:.1f} ms, gateway p50 {g:.1f} ms "
                f"-> {g - d:.1f} ms added, ratio {g / d:.2f}x"
            )
            refused = refusal_p50(gateway, auth, name, args.overhead_requests)
            print(
                f"error path (400 at admission, nothing sent upstream): gateway p50 {refused:.1f} ms"
                f" ({refused / direct_ok:.2f}x the instant server's p50 above)"
            )
            serve_from(server_url)
            InferenceServer.objects.filter(url=null.url).delete()  # not a server to place on
        d, g = overhead(direct, gateway, auth, served, name, args.overhead_requests)
        print(
            f"max_tokens=1 on the model, concurrency 1: server p50 {d:.1f} ms, gateway p50 "
            f"{g:.1f} ms -> {g - d:.1f} ms added"
        )
        if args.only_overhead:
            return

        flood_ratio(args, project, run, served, server_url, user, log)

        one_replica = None
        for concurrency, n in () if args.skip_load else ((1, 8), (8, 16), (32, 32)):
            s = load(gateway, auth, name, concurrency, n, args.tokens)
            one_replica = s
            print(
                f"gateway c={concurrency:<2} ({n} requests): {s['rps']:.2f} req/s, {s['tps']:.1f} tok/s, "
                f"p50 {s['p50']:.0f} ms, p95 {s['p95']:.0f} ms -> tok/s ratio "
                f"{s['tps'] / base_stats['tps']:.2f}x the baseline"
            )
        if not args.skip_replicas:
            children.append(
                two_replicas(
                    args, deployment, gateway, direct, auth, served, name, one_replica, log
                )
            )
    finally:
        user.delete()
        for child in children:
            child.terminate()
            child.wait(15)


if __name__ == "__main__":
    main()
