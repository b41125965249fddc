"""The engine's Reporter on a worker: events go to PostgreSQL, the run's log file and its channel group."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from .models import Checkpoint, MetricPoint, TrainingRun, run_group

TAIL_LINES = 50


class DatabaseReporter:
    def __init__(self, run: TrainingRun, log_path: Path):
        self.run_id = run.pk
        self.log_path = log_path
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A resumed or recovered run goes on with the tail it had.
        self.tail: deque[str] = deque(run.log_tail.splitlines(), maxlen=TAIL_LINES)
        self.superseded = lambda: False  # set by the task to its heartbeat's view
        self.layer = get_channel_layer()

    def _send(self, kind: str, payload: dict) -> None:
        # Live updates are best effort: the database is the record, the page refetches it on reconnect.
        try:
            async_to_sync(self.layer.group_send)(
                run_group(self.run_id), {"type": f"run.{kind}", **payload}
            )
        except Exception:
            pass

    def log(self, message: str) -> None:
        line = f"[{timezone.now():%H:%M:%S}] {message}"
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        self.tail.append(line)
        TrainingRun.objects.filter(pk=self.run_id).update(log_tail="\n".join(self.tail))
        self._send("log", {"line": line})

    def metrics(self, values: dict) -> None:
        step = int(values.get("step", 0))
        with transaction.atomic():
            point, created = MetricPoint.objects.select_for_update().get_or_create(
                run_id=self.run_id, step=step, defaults={"data": values}
            )
            if not created:
                point.data = {**point.data, **values}
                point.save(update_fields=["data"])
            TrainingRun.objects.filter(pk=self.run_id).update(
                steps_done=step,
                total_steps=int(values.get("total_steps") or 0),
                tokens_seen=int(values.get("tokens_seen") or 0),
            )
        self._send("metrics", {"point": point.data})

    def checkpoint(self, path: str, step: int, eval_loss: float | None, best: bool) -> None:
        with transaction.atomic():
            if best:
                Checkpoint.objects.filter(run_id=self.run_id).update(best=False)
            Checkpoint.objects.update_or_create(
                run_id=self.run_id,
                step=step,
                defaults={"path": path, "eval_loss": eval_loss, "best": best},
            )
        self.log(
            f"Checkpoint saved at step {step}"
            + (f" (eval loss {eval_loss:.4f}, best so far)" if best else "")
        )

    def alert(self, code: str, message: str) -> None:
        with transaction.atomic():
            run = (
                TrainingRun.objects.select_for_update()
                .only("alerts", "steps_done")
                .get(pk=self.run_id)
            )
            run.alerts = [
                *run.alerts,
                {"code": code, "message": message, "step": run.steps_done},
            ]
            run.save(update_fields=["alerts"])
        self.log(f"⚠️ {message}")
        self._send("alert", {"code": code, "message": message})

    def should_stop(self) -> bool:
        if self.superseded():
            return True  # the reaper gave this run to another worker: leave it to them
        return TrainingRun.objects.filter(pk=self.run_id, stop_requested=True).exists()


def append_log(run: TrainingRun, message: str) -> None:
    """One line in the run's log from outside the engine (recovery, the web side)."""
    DatabaseReporter(run, run.log_path).log(message)
