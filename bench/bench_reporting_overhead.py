"""What reporting costs a training step: the DatabaseReporter's writes to PostgreSQL and sends to
the channel layer, against the step time of the bundled model on this CPU.

Each step of a run reports one metrics point (a row upsert, the run's progress, a channel-layer
send) and a log line now and then; this times `--steps` of those against the real services of
DATABASE_URL / REDIS_URL, then divides by the step time measured by the engine benchmark
(`--step-seconds`, default the last figure of bench_training_engine.py on this machine: 20 steps
in 28.2 s). Unset, they are the embedded PostgreSQL and Redis, started (and migrated) under
var/bench/ and stopped at the end (bench/_stack.py).

    .venv/bin/python bench/bench_reporting_overhead.py [--steps 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import django_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--step-seconds", type=float, default=28.2 / 20)
    args = parser.parse_args()
    with django_stack():
        measure(args)


def measure(args: argparse.Namespace) -> None:
    from apps.accounts.models import User
    from apps.catalog.models import BaseModel, Hardware
    from apps.projects.models import Project
    from apps.training.models import TrainingRun
    from apps.training.reporting import DatabaseReporter

    user = User.objects.create_user(f"bench-{time.time_ns()}@example.invalid", None)
    project = Project.objects.create(
        team=user.memberships.get().team, name="bench", created_by=user
    )
    run = TrainingRun.create_next(
        project,
        base_model=BaseModel.objects.get(bundled=True),
        hardware=Hardware.objects.get(is_cpu=True),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reporter = DatabaseReporter(run, Path(tmp) / "train.log")
            point = {
                "total_steps": args.steps,
                "loss": 1.0,
                "learning_rate": 5e-4,
                "grad_norm": 1.0,
                "epoch": 0.1,
                "tokens_seen": 0,
                "tokens_per_s": 250.0,
                "elapsed_s": 1.0,
            }
            started = time.perf_counter()
            for step in range(1, args.steps + 1):
                reporter.metrics({**point, "step": step, "tokens_seen": step * 340})
                reporter.should_stop()
                if step % 10 == 0:
                    reporter.log(f"step {step}")
            per_step = (time.perf_counter() - started) / args.steps
    finally:
        user.delete()  # the team, project and run go with it
    print(
        f"reporting: {per_step * 1000:.2f} ms per step (a metrics point, a stop check, a log line "
        f"every 10 steps) over {args.steps} steps"
    )
    print(
        f"step time on this CPU: {args.step_seconds:.2f} s -> reporting overhead "
        f"{per_step / args.step_seconds:.2%} of a step (target < 2%)"
    )


if __name__ == "__main__":
    main()
