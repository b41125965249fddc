"""Every Celery task is defined in a tasks.py and reaches the worker the way a worker loads
them: by autodiscovery of each app's tasks module, with Django's system checks skipped (which
would otherwise import the URLconf and, through the views, modules a worker never imports)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
ENQUEUE = {"delay", "delay_on_commit", "apply_async", "s", "si", "signature"}

WORKER_REGISTRY = """
import json
from celery.signals import worker_init
from vibeflow_site.celery import app
app.loader.init_worker()  # what a worker does first: Django set up, tasks modules imported
worker_init.send(sender=None)
print(json.dumps(sorted(name for name in app.tasks if not name.startswith("celery."))))
"""


def worker_registry() -> set[str]:
    env = {**os.environ, "CELERY_SKIP_CHECKS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER_REGISTRY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _modules():
    for path in sorted((ROOT / "apps").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"))


def _is_task_decorator(node) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return getattr(target, "id", getattr(target, "attr", "")) in ("shared_task", "task")


def defined_tasks() -> dict[str, Path]:
    found = {}
    for module, path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in filter(_is_task_decorator, node.decorator_list):
                named = [
                    k.value.value
                    for k in getattr(decorator, "keywords", [])
                    if k.arg == "name" and isinstance(k.value, ast.Constant)
                ]
                found[named[0] if named else f"{module}.{node.name}"] = path
    return found


def enqueued_tasks() -> dict[str, str]:
    """Task name -> where the code enqueues it: `x.delay(...)` and friends on a name imported
    from (or defined in) a tasks module, `send_task("name")`, and the beat schedule."""
    found = {}
    for module, path, tree in _modules():
        package = module.rpartition(".")[0]
        names = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("tasks"):
                base = node.module
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}"
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(node, ast.FunctionDef) and module.endswith(".tasks"):
                names.setdefault(node.name, f"{module}.{node.name}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            func = node.func
            if func.attr in ENQUEUE and isinstance(func.value, ast.Name) and func.value.id in names:
                found[names[func.value.id]] = where
            elif func.attr == "send_task" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Name):  # a module constant holding the name
                    constant = arg.id
                    for assign in ast.walk(tree):
                        if isinstance(assign, ast.Assign) and any(
                            getattr(t, "id", None) == constant for t in assign.targets
                        ):
                            arg = assign.value
                if isinstance(arg, ast.Constant):
                    found[arg.value] = where
    for entry, job in settings.CELERY_BEAT_SCHEDULE.items():
        found[job["task"]] = f"CELERY_BEAT_SCHEDULE[{entry!r}]"
    return found


def test_every_task_is_defined_in_a_tasks_module():
    outside = [
        f"{name} ({path.relative_to(ROOT)})"
        for name, path in defined_tasks().items()
        if path.name != "tasks.py"
    ]
    assert outside == []


def test_the_worker_knows_every_task_the_code_enqueues():
    registry = worker_registry()
    enqueued = enqueued_tasks()
    # The scan must see the ways the code enqueues, or this test proves nothing.
    assert "apps.training.tasks.run_training" in enqueued
    assert "apps.billing.tasks.send_budget_alert" in enqueued  # by name
    assert "apps.evaluations.tasks.reap_lost_evaluations" in enqueued  # from the beat schedule
    missing = {name: where for name, where in enqueued.items() if name not in registry}
    assert missing == {}
    assert set(defined_tasks()) <= registry


def test_the_queues_are_the_ones_each_task_needs():
    from vibeflow_site.celery import app

    def queue(name):
        return (app.amqp.router.route({}, name) or {}).get("queue").name

    assert queue("apps.training.tasks.run_training") == "gpu"
    assert queue("apps.evaluations.tasks.run_evaluation") == "gpu"
    assert queue("apps.workspace.tasks.prepare_showcase") == "gpu"
    # Names from before the tasks moved: messages queued under them go where they went.
    assert queue("apps.projects.showcase.prepare_showcase") == "gpu"
    assert queue("apps.training.remote.launch_on_runpod") == "default"
    assert queue("apps.training.remote.finish_remote") == "default"
    for name in (
        "apps.training.tasks.launch_on_runpod",
        "apps.training.tasks.finish_remote",
        "apps.training.tasks.reap_lost_runs",
        "apps.evaluations.tasks.reap_lost_evaluations",
        "apps.billing.tasks.send_budget_alert",
        "apps.datasets.tasks.analyse_version",
    ):
        assert queue(name) == "default", name
