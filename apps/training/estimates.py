"""Cost and time estimates before a single GPU second is spent (docs/PRODUCT.md 3.4).

Plain functions of plain numbers, so every figure on the page can say where it
came from and the tests can check it against arithmetic done by hand:

    tokens  = examples × average tokens per example × epochs
    seconds = tokens / throughput × (1 + overhead)
    cost    = hours × hourly price, shown as a range (± uncertainty)

Throughput comes from the table in docs/PRODUCT.md 3.4 for a 7B model on an A100 (LoRA 800,
QLoRA 400, full 200 tokens/s), scaled by parameter count and a relative speed
per GPU, until past runs of the same combination replace it with a measurement.
The CPU has no table figure: it gets a stated default, shown as an assumption,
until its first run here measures it.

``first_run`` sizes a run to finish in about ten minutes (fewer epochs, then a
sample of the examples) and prices the longer run it stands in for, with the same
``estimate``, so the agent's words and the configuration page agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

REFERENCE_PARAMS_B = 7.0
REFERENCE_TOKENS_PER_SECOND = {"lora": 800.0, "qlora": 400.0, "full": 200.0}
# Throughput relative to an A100 40GB. L40S "2-3% slower" is docs/PRODUCT.md 3.5's figure; the others
# are VibeFlow's defaults until runs on that GPU calibrate them.
GPU_SPEED = {
    "a100-40gb": 1.0,
    "a100-80gb": 1.0,
    "h100": 2.0,
    "l40s": 0.97,
    "rtx-4090": 0.7,
    "t4": 0.25,
}
# The CPU (LoRA only; QLoRA needs CUDA and full fine-tuning is refused there) until a run
# measures it. Measured on this project's 2-core machine by bench/bench_journey.py
# (bench/results/journey_cpu_2026-12-07.txt): SmolLM2 135M trained 205 customer-support
# examples × 5 epochs, with the test examples evaluated after each epoch, in 184 s; that is
# 84,350 trained tokens (the checkpoint's tokens seen, about 82 an example with its tokenizer
# and chat template), about 458 tokens/s (counted as `estimate` counts: training examples
# only, as the engine's tokens seen do). The speed comes from the engine's default speed-ups
# on this CPU (bfloat16 on AMX tiles, the label-only loss, length grouping:
# workers/training/speed.py and engine.default_speedups), so a CPU without AMX is slower
# than this figure until its first run's measurement corrects it. Like a measured rate it is
# tokens over a whole run's wall time (loading, evaluation and checkpoints included), so no
# overhead is added on top. Other CPUs differ either way, which is why the page calls it an
# assumption and the first run replaces it.
CPU_SLUG = "cpu"
CPU_DEFAULT_TOKENS_PER_SECOND = 458.0
CPU_DEFAULT_PARAMS_B = 0.135
OVERHEAD = 0.20  # data loading, evaluation, checkpointing (docs/PRODUCT.md 3.4: "20% overhead")
UNCERTAINTY = 0.15  # ±15% (docs/PRODUCT.md 3.4: confidence 0.85)
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
    # True when the throughput is the CPU's stated default, not a measurement or the docs/PRODUCT.md 3.4 table.
    assumed: bool = False

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
    if inputs.gpu_slug == CPU_SLUG and inputs.method == "lora":
        value = CPU_DEFAULT_TOKENS_PER_SECOND * (CPU_DEFAULT_PARAMS_B / inputs.params_billions)
        return value, (
            f"assumed: {CPU_DEFAULT_TOKENS_PER_SECOND:g} tokens/s for a "
            f"{CPU_DEFAULT_PARAMS_B * 1000:g}M model with LoRA, as measured on a 2-core CPU"
            + (
                f", × {CPU_DEFAULT_PARAMS_B:g}/{inputs.params_billions:g}B parameters"
                if inputs.params_billions != CPU_DEFAULT_PARAMS_B
                else ""
            )
            + "; your first run on this machine measures its real speed"
        )
    speed = GPU_SPEED.get(inputs.gpu_slug)
    if speed is None:
        raise ValueError(
            f"no throughput figure for {inputs.gpu_slug!r}; it needs a measured run first"
        )
    base = REFERENCE_TOKENS_PER_SECOND[inputs.method]
    value = base * (REFERENCE_PARAMS_B / inputs.params_billions) * speed
    return value, (
        f"VibeFlow's reference rate ({base:g} tokens/s for {inputs.method} on a 7B model, A100), "
        f"× {REFERENCE_PARAMS_B:g}/{inputs.params_billions:g}B parameters × {speed:g} GPU speed"
    )


def estimate(inputs: Inputs) -> Estimate:
    tokens = inputs.examples * inputs.avg_tokens_per_example * inputs.epochs
    tps, source = throughput(inputs)
    assumed = not inputs.measured_tokens_per_second and inputs.gpu_slug == CPU_SLUG
    # A measured rate is tokens over a whole run's wall time: loading, evaluation and
    # checkpoints are in it already (and in the CPU's default, which was measured the same way).
    overhead = 0.0 if inputs.measured_tokens_per_second or assumed else OVERHEAD
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
            else "none added: the assumed rate was measured over whole runs, which include it"
            if assumed
            else "none added: the measured runs' wall time includes it",
            "price": f"${inputs.hourly_price:g}/hour",
            "range": f"±{UNCERTAINTY:.0%}",
        },
        assumed=assumed,
    )


FIRST_RUN_SECONDS = 600.0  # a first run on a CPU should finish in about ten minutes
# Fewer than this and a run is a dozen optimizer steps at the CPU's effective batch of 8: its
# curve says nothing. A sample never goes below it, even if that takes longer than the target.
MIN_FIRST_RUN_EXAMPLES = 100


@dataclass
class RunSize:
    examples: int  # trained on; all of them when equal to the data's count
    epochs: int
    estimate: Estimate


@dataclass
class FirstRun:
    quick: RunSize  # sized to finish in about FIRST_RUN_SECONDS
    longer: RunSize  # every example × the epochs asked for: what the quick run stands in for
    all_examples: int

    @property
    def reduced(self) -> bool:
        """Whether the quick run trains on less than the longer one."""
        return (self.quick.examples, self.quick.epochs) != (
            self.longer.examples,
            self.longer.epochs,
        )

    @property
    def max_examples(self) -> int:
        """The quick run's setting for the engine: 0 means every example."""
        return 0 if self.quick.examples >= self.all_examples else self.quick.examples

    def which(self, max_examples: int, epochs: int) -> str:
        """Which offer these settings are: "quick", "longer", or "" for neither."""
        examples = min(max_examples, self.all_examples) if max_examples else self.all_examples
        for name, size in (("quick", self.quick), ("longer", self.longer)):
            if (examples, epochs) == (size.examples, size.epochs):
                return name
        return ""


def _round_down(n: int) -> int:
    """Two significant digits (215 → 210, 1,234 → 1,200): a sample size that reads as chosen."""
    if n < 100:
        return n
    unit = 10 ** (len(str(n)) - 2)
    return n // unit * unit


def first_run(inputs: Inputs, target_seconds: float = FIRST_RUN_SECONDS) -> FirstRun:
    """The largest run that fits ``target_seconds``, and the full run it stands in for.

    1. All the examples × the asked epochs fits: that is the first run too.
    2. Else as many whole epochs over every example as fit: for the same time, more
       distinct examples teach more than the same few seen again.
    3. Else one epoch over a seeded sample, sized to the target (rounded down, at
       least MIN_FIRST_RUN_EXAMPLES); a sample that would leave out fewer than a tenth of
       the examples takes them all instead (a minute more is worth no example left out).
    The sequence length is left alone: truncation cuts the end of a conversation, the
    assistant's reply, which is the only part a run learns from.
    """
    epochs = max(1, math.ceil(inputs.epochs))
    full = replace(inputs, epochs=epochs)
    longer = RunSize(inputs.examples, epochs, estimate(full))
    if longer.estimate.seconds <= target_seconds:
        return FirstRun(longer, longer, inputs.examples)
    one_epoch = estimate(replace(full, epochs=1))
    fitting = int(target_seconds // one_epoch.seconds)
    if fitting >= 1:
        quick = RunSize(inputs.examples, fitting, estimate(replace(full, epochs=fitting)))
        return FirstRun(quick, longer, inputs.examples)
    # The time is proportional to the examples, so the share that fits is target / one epoch.
    sample = _round_down(int(inputs.examples * target_seconds / one_epoch.seconds))
    sample = min(inputs.examples, max(MIN_FIRST_RUN_EXAMPLES, sample))
    if sample >= 0.9 * inputs.examples:
        sample = inputs.examples
    quick = RunSize(sample, 1, estimate(replace(full, examples=sample, epochs=1)))
    return FirstRun(quick, longer, inputs.examples)


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


def epochs_for(examples: int) -> int:
    """docs/PRODUCT.md "Epoch Selection" (3.3): small 5-10, medium 3-5, large 1-2 (the lower end of each)."""
    if examples < 1_000:
        return 5
    if examples < 10_000:
        return 3
    if examples < 100_000:
        return 2
    return 1
