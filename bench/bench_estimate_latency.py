"""How fast the configuration page answers a changed setting (htmx GET of the estimate), against
the cheapest request the site serves (/healthz) in the same process, same run.

Sets up a user, a project, the customer-support sample analysed into a version and a draft run
in the database of DATABASE_URL, then times `--requests` estimate requests through Django's test
client (no network: the server's own time) and prints p50/p95 against the 200 ms target of
issue 4, and the ratio to /healthz. With DATABASE_URL / REDIS_URL unset, the embedded PostgreSQL
and Redis start (and are migrated) under var/bench/ and stop at the end (bench/_stack.py).

    .venv/bin/python bench/bench_estimate_latency.py [--requests 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import django_stack  # noqa: E402


def timed(client, url, params, n) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, params, headers={"HX-Request": "true"})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with django_stack():
        measure(args)


def measure(args: argparse.Namespace) -> None:
    from django.test import Client
    from django.urls import reverse

    from apps.accounts.models import User
    from apps.datasets.models import DatasetVersion
    from apps.datasets.tasks import analyse_version
    from apps.projects.models import Project
    from apps.training.forms import TrainingConfigForm
    from apps.training.models import TrainingRun

    user = User.objects.create_user(f"bench-{time.time_ns()}@example.invalid", None)
    try:
        project = Project.objects.create(
            team=user.memberships.get().team, name="bench", created_by=user
        )
        client = Client(HTTP_HOST="localhost")  # an allowed host outside the test runner
        client.force_login(user)
        client.post(reverse("dataset_sample", args=[project.pk, "customer-support"]))
        analyse_version(str(DatasetVersion.objects.get(dataset__project=project).pk))
        client.post(reverse("run_new", args=[project.pk]))
        run = TrainingRun.objects.get(project=project)
        params = {
            f: getattr(run, f + "_id" if f in ("dataset_version", "base_model", "hardware") else f)
            for f in TrainingConfigForm.Meta.fields
        }
        params["epochs"] = 2  # a changed setting, as the page sends it
        url = reverse("run_estimate", args=[run.pk])
        timed(client, url, params, 3)  # warm caches and connections
        estimate = timed(client, url, params, args.requests)
        health = timed(client, "/healthz", {}, args.requests)
    finally:
        user.delete()
    p50, p95 = statistics.median(estimate), statistics.quantiles(estimate, n=20)[18]
    base = statistics.median(health)
    print(
        f"estimate: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {args.requests} requests (target < 200 ms)"
    )
    print(
        f"/healthz: p50 {base:.2f} ms -> the estimate costs {p50 / base:.0f}x the cheapest request"
    )


if __name__ == "__main__":
    main()
