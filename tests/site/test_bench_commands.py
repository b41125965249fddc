"""The README's benchmark commands run as written: every script answers --help, the GPU ones
say in a sentence that there is no GPU, and a benchmark that needs the database starts, migrates
and stops its own embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, as a
newcomer runs it (bench/_stack.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
GPU_SCRIPTS = [path for path in SCRIPTS if path.stem.endswith("_gpu")]
_spec = importlib.util.spec_from_file_location("bench_stack_helper", BENCH / "_stack.py")
_stack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_stack)


def newcomer_env(**extra: str) -> dict[str, str]:
    """The environment of someone who set nothing: none of what the test command exports."""
    dropped = {
        "DATABASE_URL",
        "REDIS_URL",
        "DATABASE_NAME",
        "DB_POOL",
        "DEBUG",
        "SECRET_KEY",
        "STATIC_MANIFEST",
        "DJANGO_SETTINGS_MODULE",
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("VIBEFLOW_")
    }
    return {**env, **extra}


def run(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def readme_commands() -> dict[str, set[str]]:
    """The scripts the README's Benchmarks section names, each with the flags it gives them
    (a flag in its own `code span` belongs to the script named before it)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Benchmarks", 1)[1].split("\n## ", 1)[0]
    commands: dict[str, set[str]] = {}
    script = None
    for span in re.findall(r"`([^`]+)`", section):
        words = span.split()
        named = [word for word in words if re.fullmatch(r"bench/\w+\.py", word)]
        if named:
            script = named[0]
            commands.setdefault(script, set())
        if script:
            commands[script] |= {word for word in words if word.startswith("--")}
    return commands


def test_the_readme_names_scripts_that_exist():
    commands = readme_commands()
    assert "bench/bench_serving.py" in commands
    assert [name for name in commands if not (ROOT / name).is_file()] == []


@pytest.fixture(scope="module")
def quick_runs() -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every script with --help, and each GPU one with nothing, all at once (a second each)."""
    jobs = [(path.stem, "--help") for path in SCRIPTS]
    jobs += [(path.stem, "") for path in GPU_SCRIPTS if not _stack.gpu_driver_present()]

    def one(job):
        stem, flag = job
        return job, run(
            str(BENCH / f"{stem}.py"), *filter(None, [flag]), env=newcomer_env(), timeout=120
        )

    with ThreadPoolExecutor(len(jobs)) as pool:
        return dict(pool.map(one, jobs))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_each_benchmark_answers_help_with_the_readme_flags(script, quick_runs):
    result = quick_runs[(script.stem, "--help")]
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    flags = readme_commands().get(f"bench/{script.name}", set())
    assert {flag for flag in flags if flag not in result.stdout} == set()


@pytest.mark.skipif(_stack.gpu_driver_present(), reason="a GPU machine: these would run")
@pytest.mark.parametrize("script", GPU_SCRIPTS, ids=lambda path: path.stem)
def test_a_gpu_benchmark_says_there_is_no_gpu(script, quick_runs):
    result = quick_runs[(script.stem, "")]
    assert result.returncode == 1
    assert "no CUDA GPU here" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(180)
def test_a_database_benchmark_starts_migrates_and_stops_its_own_services(tmp_path):
    bench_dir = tmp_path / "bench"
    result = run(
        str(BENCH / "bench_reporting_overhead.py"),
        "--steps",
        "2",
        env=newcomer_env(VIBEFLOW_BENCH_DIR=str(bench_dir)),
        timeout=170,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "embedded PostgreSQL running" in output
    assert "embedded Redis running" in output
    assert "applying database migrations" in output
    assert "reporting overhead" in result.stdout  # it ran to its ratio
    assert (bench_dir / "services" / "postgres").is_dir()
    assert (bench_dir / "data").is_dir()  # files of its own, not var/'s
    left = [
        process.info["cmdline"]
        for process in psutil.process_iter(["cmdline"])
        if any(str(bench_dir) in part for part in process.info["cmdline"] or ())
    ]
    assert left == []
