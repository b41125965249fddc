"""Cost and time estimates before a single GPU second is spent (product spec 3.4).

Plain functions of plain numbers, so every figure on the page can say where it
came from and the tests can check it against arithmetic done by hand:

    tokens  = examples × average tokens per example × epochs
    seconds = tokens / throughput × (1 + overhead)
    cost    = hours × hourly price, shown as a range (± uncertainty)

Throughput comes from the spec's table for a 7B model on an A100 (LoRA 800,
QLoRA 400, full 200 tokens/s), scaled by parameter count and a relative speed
per GPU, until past runs of the same combination replace it with a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REFERENCE_PARAMS_B = 7.0
REFERENCE_TOKENS_PER_SECOND = {"lora": 800.0, "qlora": 400.0, "full": 200.0}
# Throughput relative to an A100 40GB. L40S "2-3% slower" is the spec's figure; the others
# are VibeFlow's defaults until runs on that GPU calibrate them.
GPU_SPEED = {
    "a100-40gb": 1.0,
    "a100-80gb": 1.0,
    "h100": 2.0,
    "l40s": 0.97,
    "rtx-4090": 0.7,
    "t4": 0.25,
}
OVERHEAD = 0.20  # data loading, evaluation, checkpointing (spec: "20% overhead")
UNCERTAINTY = 0.15  # ±15% (spec: confidence 0.85)
STORAGE_PRICE_PER_GB_MONTH = 0.10  # VibeFlow's list price for keeping weights


@dataclass(frozen=True)
class Inputs:
    examples: int
    avg_tokens_per_example: float
    epochs: float
    params_billions: float
    method: str
    hourly_price: float
    gpu_slug: str
    measured_tokens_per_second: float | None = None  # from past runs of this combination
    measured_runs: int = 0

    def __post_init__(self):
        if self.examples <= 0:
            raise ValueError("examples must be positive")
        if self.avg_tokens_per_example <= 0:
            raise ValueError("avg_tokens_per_example must be positive")
        if not 0 < self.epochs <= 100:
            raise ValueError("epochs must be between 0 and 100")
        if self.method not in REFERENCE_TOKENS_PER_SECOND:
            raise ValueError(f"method must be lora, qlora or full, not {self.method!r}")
        if self.hourly_price < 0:
            raise ValueError("hourly_price cannot be negative")


@dataclass
class Estimate:
    tokens: float
    tokens_per_second: float
    throughput_source: str
    seconds: float
    cost: float
    cost_low: float
    cost_high: float
    seconds_low: float
    seconds_high: float
    cost_per_example: float
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def throughput(inputs: Inputs) -> tuple[float, str]:
    """Tokens per second for this model size, method and GPU, and where the figure comes from."""
    if inputs.measured_tokens_per_second:
        runs = inputs.measured_runs
        return (
            inputs.measured_tokens_per_second,
            f"measured on {runs} past run{'s' if runs != 1 else ''} of this setup",
        )
    speed = GPU_SPEED.get(inputs.gpu_slug)
    if speed is None:
        raise ValueError(
            f"no throughput figure for {inputs.gpu_slug!r}; it needs a measured run first"
        )
    base = REFERENCE_TOKENS_PER_SECOND[inputs.method]
    value = base * (REFERENCE_PARAMS_B / inputs.params_billions) * speed
    return value, (
        f"spec table ({base:g} tokens/s for {inputs.method} on a 7B model, A100), "
        f"× {REFERENCE_PARAMS_B:g}/{inputs.params_billions:g}B parameters × {speed:g} GPU speed"
    )


def estimate(inputs: Inputs) -> Estimate:
    tokens = inputs.examples * inputs.avg_tokens_per_example * inputs.epochs
    tps, source = throughput(inputs)
    # A measured rate is tokens over a whole run's wall time: loading, evaluation and
    # checkpoints are in it already.
    overhead = 0.0 if inputs.measured_tokens_per_second else OVERHEAD
    seconds = tokens / tps * (1 + overhead)
    cost = seconds / 3600 * inputs.hourly_price
    return Estimate(
        tokens=tokens,
        tokens_per_second=tps,
        throughput_source=source,
        seconds=seconds,
        cost=cost,
        cost_low=cost * (1 - UNCERTAINTY),
        cost_high=cost * (1 + UNCERTAINTY),
        seconds_low=seconds * (1 - UNCERTAINTY),
        seconds_high=seconds * (1 + UNCERTAINTY),
        cost_per_example=cost / inputs.examples,
        sources={
            "tokens": f"{inputs.examples:,} examples × {inputs.avg_tokens_per_example:g} tokens × {inputs.epochs:g} epochs",
            "throughput": source,
            "overhead": f"+{OVERHEAD:.0%} for data loading, evaluation and checkpoints"
            if overhead
            else "none added: the measured runs' wall time includes it",
            "price": f"${inputs.hourly_price:g}/hour",
            "range": f"±{UNCERTAINTY:.0%}",
        },
    )


def storage_cost_per_month(size_gb: float) -> float:
    return size_gb * STORAGE_PRICE_PER_GB_MONTH


def format_duration(seconds: float) -> str:
    """'45s', '12m', '3h 22m'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
