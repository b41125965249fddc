"""Each process has one definition (vibeflow_site/processes.py), and what ships uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vibeflow_site import processes

ROOT = Path(__file__).resolve().parents[2]


def _settings_database(**env: str) -> dict:
    """The database settings a process with this environment gets (settings are read once per
    process, so a child process reads them)."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_NAME", "DB_POOL")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "vibeflow_site.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_pool_keeps_every_connection_option_of_the_url():
    # The embedded PostgreSQL's URL: its socket folder travels as the `host` option.
    url = "postgresql://postgres:@/vibeflow?host=/tmp/vf-sockets&sslmode=disable"
    pooled = _settings_database(DATABASE_URL=url, **processes.web().env)
    assert pooled["OPTIONS"]["host"] == "/tmp/vf-sockets"
    assert pooled["OPTIONS"]["sslmode"] == "disable"
    assert pooled["OPTIONS"]["pool"]["max_size"] >= 1
    assert pooled["CONN_MAX_AGE"] == 0
    plain = _settings_database(DATABASE_URL=url)
    assert plain["OPTIONS"] == {"host": "/tmp/vf-sockets", "sslmode": "disable"}


def test_the_default_queue_is_never_behind_the_gpu_queue():
    def queues(process):
        argv = list(process.argv)
        return set(argv[argv.index("-Q") + 1].split(","))

    assert queues(processes.worker()) == {"default"}
    assert queues(processes.gpu_worker()) == {"gpu"}
    assert "-B" in processes.worker(beat=True).argv and "-B" not in processes.worker().argv
    # Two workers on one host need names of their own, or Celery's control commands mix them up.
    names = {p.argv[p.argv.index("-n") + 1] for p in (processes.worker(), processes.gpu_worker())}
    assert len(names) == 2


def test_the_procfile_and_the_images_start_every_process_from_its_definition():
    procfile = (ROOT / "deploy" / "Procfile").read_text()
    lines = dict(
        line.split(":", 1) for line in procfile.splitlines() if line and not line.startswith("#")
    )
    for name in ("web", "worker", "gpu-worker", "beat", "inference"):
        assert lines[name].strip().startswith(f"python -m vibeflow_site.processes {name}"), name
    for image in ("web", "gpu-worker"):
        dockerfile = (ROOT / "deploy" / "docker" / f"{image}.Dockerfile").read_text()
        assert f'"vibeflow_site.processes", "{image}"' in dockerfile


def test_the_launcher_runs_the_defined_command_with_its_environment(tmp_path):
    # `python -m vibeflow_site.processes web` must exec Daphne with DB_POOL=1; checked through a
    # stand-in interpreter that records what it was given instead of serving.
    recorder = tmp_path / "python"
    recorder.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/argv\necho "$DB_POOL" > {tmp_path}/pool\n'
    )
    recorder.chmod(0o755)
    code = (
        "import sys; from vibeflow_site import processes; "
        f"sys.executable = {str(recorder)!r}; processes.main(sys.argv[1:])"
    )
    subprocess.run(
        [sys.executable, "-c", code, "web", "--port", "8123", "--proxy-headers"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DB_POOL"},
        check=True,
    )
    assert (tmp_path / "argv").read_text().split() == [
        "-m", "daphne", "-b", "127.0.0.1", "-p", "8123", "--proxy-headers",
        "vibeflow_site.asgi:application",
    ]  # fmt: skip
    assert (tmp_path / "pool").read_text().strip() == "1"
