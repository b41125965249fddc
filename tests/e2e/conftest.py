"""A real browser (Debian's Chromium, driven by Playwright) against a real Daphne
serving the test database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from vibeflow_site import processes

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VIBEFLOW_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(os.environ.get("VIBEFLOW_TEST_OUTPUT", ROOT / "test-output")) / "e2e"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = (
            f"\n{'!' * 70}\n  E2E TESTS SKIPPED: no Chromium at {CHROMIUM}.\n"
            "  Install Debian's packages:  apt-get install chromium chromium-driver\n"
            f"{'!' * 70}"
        )
        print(message, file=sys.stderr)
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _child_env() -> dict:
    return {
        **os.environ,
        "DATABASE_NAME": settings.DATABASES["default"]["NAME"],
        "DEBUG": "0",
        "SECURE_COOKIES": "0",  # plain http on localhost
        "STATIC_MANIFEST": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "VIBEFLOW_DATA_DIR": str(settings.DATA_DIR),
    }


@contextmanager
def _child(args: list[str], log_name: str, env: dict | None = None):
    """A child process of the suite with its output in test-output/e2e/<log_name>, stopped afterwards."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT / log_name, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**_child_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def live_worker(transactional_db):
    """A Celery worker in a child process, for both queues, on the test database."""
    args = [
        "celery",
        "-A",
        "vibeflow_site",
        "worker",
        "-Q",
        "default,gpu",
        "--pool",
        "solo",
        "-l",
        "warning",
    ]
    with _child(args, "worker.log") as process:
        yield process


@pytest.fixture
def live_server_url(transactional_db, seeded_catalog):
    """The web process (Daphne, pool on) in a child process, on the test database."""
    port = _free_port()
    url = f"http://localhost:{port}"
    web = processes.web("127.0.0.1", port)  # exactly as shipped: the pooled connection too
    with _child(list(web.argv[1:]), "daphne.log", env=dict(web.env)) as process:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Daphne did not start; see {OUTPUT / 'daphne.log'}"
                    ) from None
                time.sleep(0.2)
        yield url


@pytest.fixture
def browser_page(chromium_path):
    """Playwright's sync API runs an event loop in this thread: set up database rows in
    fixtures listed before this one, since the ORM refuses to run inside that loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1360, "height": 860})
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def screenshot(browser_page):
    OUTPUT.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = OUTPUT / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return take


def wait_for(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy (returned), or fail saying what."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return value
