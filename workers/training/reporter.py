"""How the engine tells the world what happens: the worker adapts it to the database and sockets."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def log(self, message: str) -> None: ...

    def metrics(self, values: dict) -> None: ...

    def checkpoint(self, path: str, step: int, eval_loss: float | None, best: bool) -> None: ...

    def alert(self, code: str, message: str) -> None: ...

    def should_stop(self) -> bool: ...


class ListReporter:
    """Keeps everything in lists; for tests and scripts. ``stop_after_step`` asks for a stop after that many steps."""

    def __init__(self, stop_after_step: int | None = None):
        self.logs: list[str] = []
        self.points: list[dict] = []
        self.checkpoints: list[dict] = []
        self.alerts: list[tuple[str, str]] = []
        self.stop_after_step = stop_after_step
        self.step = 0
        self.steps_ended = 0

    def log(self, message: str) -> None:
        self.logs.append(message)

    def metrics(self, values: dict) -> None:
        self.points.append(values)
        self.step = max(self.step, values.get("step", 0))

    def checkpoint(self, path: str, step: int, eval_loss: float | None, best: bool) -> None:
        self.checkpoints.append({"path": path, "step": step, "eval_loss": eval_loss, "best": best})

    def alert(self, code: str, message: str) -> None:
        self.alerts.append((code, message))

    def should_stop(self) -> bool:
        # The engine asks once at the end of every optimizer step.
        self.steps_ended += 1
        return self.stop_after_step is not None and self.steps_ended >= self.stop_after_step
