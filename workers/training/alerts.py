"""Training alerts (docs/PRODUCT.md 4.4), from the stream of logged metrics. Plain logic, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RISING_STEPS = 5  # "Loss increasing for 5 steps"
DIVERGE_FACTOR = 10.0  # loss ×10 the first loss: diverging
GPU_MEMORY_HIGH = 0.95
# "Very slow training": the last SLOW_POINTS logged stretches each ran at under SLOW_FRACTION
# of this run's usual speed (the median of its earlier stretches).
SLOW_POINTS = 3
SLOW_FRACTION = 1 / 3


@dataclass
class AlertWatch:
    """Feed it each logged point; it returns the alerts that point raises, each once."""

    first_loss: float | None = None
    losses: list[float] = field(default_factory=list)
    evals: list[tuple[float, float]] = field(
        default_factory=list
    )  # (eval loss, train loss at that time)
    raised: set[str] = field(default_factory=set)
    rates: list[float] = field(default_factory=list)  # tokens/s between logged points
    last_clock: tuple[float, float] | None = None  # (elapsed s, tokens seen) at the last point

    def _once(self, code: str, message: str) -> list[tuple[str, str]]:
        if code in self.raised:
            return []
        self.raised.add(code)
        return [(code, message)]

    def observe(self, point: dict) -> list[tuple[str, str]]:
        alerts: list[tuple[str, str]] = []
        loss = point.get("loss")
        if loss is not None:
            if not math.isfinite(loss):
                alerts += self._once(
                    "diverging",
                    "Loss is not a number any more: training diverged. Lower the learning rate 10x.",
                )
            else:
                if self.first_loss is None:
                    self.first_loss = loss
                elif loss > DIVERGE_FACTOR * self.first_loss:
                    alerts += self._once(
                        "diverging",
                        "Loss is ten times its first value: training is diverging. Lower the learning rate 10x.",
                    )
                self.losses.append(loss)
                recent = self.losses[-(RISING_STEPS + 1) :]
                if len(recent) == RISING_STEPS + 1 and all(
                    b > a for a, b in zip(recent, recent[1:], strict=False)
                ):
                    alerts += self._once(
                        "loss_rising",
                        f"Loss increasing for {RISING_STEPS} steps. Consider a lower learning rate.",
                    )
        eval_loss = point.get("eval_loss")
        if eval_loss is not None and self.losses:
            self.evals.append((eval_loss, self.losses[-1]))
            if len(self.evals) >= 2:
                (e1, t1), (e2, t2) = self.evals[-2], self.evals[-1]
                if e2 > e1 and t2 < t1:
                    alerts += self._once(
                        "overfitting",
                        "Eval loss is rising while train loss falls: the model is starting to overfit. Consider fewer epochs.",
                    )
        alerts += self._speed(point)
        used, total = point.get("gpu_memory_used"), point.get("gpu_memory_total")
        if used and total and used / total > GPU_MEMORY_HIGH:
            alerts += self._once(
                "gpu_memory",
                f"GPU memory at {used / total:.0%}. The run may crash: reduce the batch size.",
            )
        return alerts

    def _speed(self, point: dict) -> list[tuple[str, str]]:
        elapsed, tokens = point.get("elapsed_s"), point.get("tokens_seen")
        if elapsed is None or tokens is None:
            return []
        last, self.last_clock = self.last_clock, (elapsed, tokens)
        if last is None or elapsed <= last[0] or tokens <= last[1]:
            return []  # the first point, an eval-only point, or a resume's restart
        self.rates.append((tokens - last[1]) / (elapsed - last[0]))
        earlier, recent = self.rates[:-SLOW_POINTS], self.rates[-SLOW_POINTS:]
        if len(earlier) < SLOW_POINTS:
            return []
        usual = sorted(earlier)[len(earlier) // 2]
        if all(rate < SLOW_FRACTION * usual for rate in recent):
            return self._once(
                "slow",
                f"Very slow training: the last steps ran at {recent[-1]:.0f} tokens/s, under a "
                f"third of this run's usual {usual:.0f}. The machine may be swapping memory: "
                "stop, and train again with a smaller batch size.",
            )
        return []


def overfitting_risk(examples: int, epochs: float) -> str | None:
    """The start-of-run warning (docs/PRODUCT.md 4.4) for small datasets trained many times."""
    if examples < 1_000 and epochs > 5:
        return f"Your dataset is small ({examples:,} examples). Consider reducing epochs to 5 or fewer."
    if 1_000 <= examples < 10_000 and epochs > 3:
        return f"Your dataset ({examples:,} examples) usually needs no more than 3 epochs; more risks overfitting."
    return None
