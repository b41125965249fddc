"""The run page's live panel (docs/PRODUCT.md 4.1, 4.5): what the engine's last logged points
say, in figures a user reads at a glance, and how efficiently the machine trains.

Everything comes from the run's `MetricPoint`s (the engine's `on_log`), its checkpoints and, for
the expected speed the tokens/s are rated against, the same throughput the estimate used
(measured on past runs of this setup, or the stated reference). Nothing is shown that the run
did not report: a CPU run has no GPU rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import configuration, estimates
from .models import ACTIVE, TrainingRun

POINTS_READ = 20  # the last logged points: enough for a trend and for a sparse eval


@dataclass(frozen=True)
class Rating:
    label: str  # a figure as shown, e.g. "452 tokens/s"
    verdict: str  # "excellent", "good", "fair", "low"
    why: str  # what it is compared with


@dataclass
class Panel:
    epoch: str = ""  # "1.4 of 3"
    elapsed: str = ""
    remaining: str = ""
    loss: float | None = None
    loss_trend: str = ""  # "falling", "rising", "flat"
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    gpu_memory: str = ""  # "31.2 / 80 GB (39%)"
    gpu_utilization: float | None = None
    ratings: list[Rating] = field(default_factory=list)
    verdict: str = ""  # one line over the ratings
    checkpoints: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.epoch and not self.checkpoints


def _rate(value: float, good: float, fair: float, excellent: float) -> str:
    if value >= excellent:
        return "excellent"
    if value >= good:
        return "good"
    return "fair" if value >= fair else "low"


def expected_speed(run: TrainingRun) -> tuple[float, str] | None:
    """The tokens/s the estimate expected of this model, method and hardware, and its source."""
    try:
        return configuration.expected_throughput(run.base_model, run.hardware, run.method)
    except ValueError:
        return None  # a GPU with no reference figure and no measured run


def _trend(losses: list[float]) -> str:
    if len(losses) < 2:
        return ""
    first, last = losses[0], losses[-1]
    if last < first * 0.98:
        return "falling"
    return "rising" if last > first * 1.02 else "flat"


def live_panel(run: TrainingRun) -> Panel:
    points = [p.data for p in reversed(run.points.order_by("-step")[:POINTS_READ])]
    panel = Panel(
        checkpoints=list(run.checkpoints.order_by("step").values("step", "eval_loss", "best"))
    )
    if not points:
        return panel
    last = points[-1]

    def latest(key):
        return next((p[key] for p in reversed(points) if p.get(key) is not None), None)

    panel.epoch = f"{last.get('epoch', 0):.1f} of {run.epochs}"
    panel.elapsed = estimates.format_duration(last.get("elapsed_s", 0))
    if last.get("remaining_s") is not None and run.status in ACTIVE:
        panel.remaining = estimates.format_duration(last["remaining_s"])
    losses = [p["loss"] for p in points if p.get("loss") is not None]
    panel.loss = losses[-1] if losses else None
    panel.loss_trend = _trend(losses[-5:])
    panel.eval_loss = latest("eval_loss")
    panel.learning_rate = latest("learning_rate")
    panel.tokens_per_s = last.get("tokens_per_s")
    used, total = latest("gpu_memory_used"), latest("gpu_memory_total")
    if used is not None and total:
        panel.gpu_memory = f"{used:.1f} / {total:.0f} GB ({used / total:.0%})"
    panel.gpu_utilization = latest("gpu_utilization")
    panel.ratings = _ratings(run, panel, latest("data_efficiency"))
    panel.verdict = _verdict(panel.ratings)
    return panel


def _ratings(run: TrainingRun, panel: Panel, data_efficiency: float | None) -> list[Rating]:
    ratings = []
    expected = expected_speed(run)
    if panel.tokens_per_s and expected:
        speed, source = expected
        ratio = panel.tokens_per_s / speed
        ratings.append(
            Rating(
                f"{panel.tokens_per_s:,.0f} tokens/s",
                _rate(ratio, good=0.7, fair=0.4, excellent=0.9),
                f"{ratio:.0%} of the {speed:,.0f} tokens/s expected ({source})",
            )
        )
    if panel.gpu_utilization is not None:
        ratings.append(
            Rating(
                f"{panel.gpu_utilization:.0f}% GPU utilisation",
                _rate(panel.gpu_utilization / 100, good=0.6, fair=0.3, excellent=0.85),
                "the share of time the GPU computed, as nvidia-smi reports it",
            )
        )
    if data_efficiency is not None:
        ratings.append(
            Rating(
                f"{data_efficiency:.0%} data-loading efficiency",
                _rate(data_efficiency, good=0.9, fair=0.75, excellent=0.97),
                "the share of training time not spent waiting for the next batch",
            )
        )
    return ratings


def _verdict(ratings: list[Rating]) -> str:
    if not ratings:
        return ""
    worst = min(ratings, key=lambda r: ["low", "fair", "good", "excellent"].index(r.verdict))
    if worst.verdict in ("excellent", "good"):
        return "Training is running efficiently."
    return f"Slower than it could be: {worst.label} ({worst.verdict})."
