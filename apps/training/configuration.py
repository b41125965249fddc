"""A run's estimate, tips and checklist, from its configuration. Used by the config page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apps.catalog.models import BaseModel, Hardware

from . import estimates
from .tokens import average_tokens


@dataclass
class Tip:
    text: str
    saving: float


@dataclass
class Quote:
    estimate: estimates.Estimate | None
    reason: str = ""  # why there is no estimate
    tips: list[Tip] | None = None
    examples: int = 0
    avg_tokens: float = 0.0
    # On a CPU: a quick first run and the longer one it stands in for (None elsewhere).
    first_run: estimates.FirstRun | None = None


MEASURED_RUNS = 5  # the latest finished runs of a setup that calibrate its throughput


@dataclass
class Storage:
    size_gb: float | None
    per_month: float | None
    source: str


def _folder_gb(path: str) -> float | None:
    folder = Path(path)
    if not folder.is_dir():
        return None
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9


def storage(model: BaseModel, method: str, lora_r: int) -> Storage:
    """What keeping the trained weights costs a month (docs/PRODUCT.md 3.4's storage line).

    Full fine-tuning keeps a bfloat16 copy of the model (parameters × 2 bytes). A LoRA
    adapter's size depends on the architecture, so it is measured: the adapter folder of
    the latest finished run with the same model, method and rank; none yet, no figure."""
    from .models import RunStatus, TrainingRun

    price = estimates.STORAGE_PRICE_PER_GB_MONTH
    if method == "full":
        size = model.params_billions * 2
        source = f"a bfloat16 copy of {model.params_billions:g}B parameters × 2 bytes"
    else:
        runs = (
            TrainingRun.objects.filter(
                base_model=model, method=method, lora_r=lora_r, status=RunStatus.SUCCEEDED
            )
            .exclude(adapter_dir="")
            .order_by("-finished_at")[:5]
        )
        size = next((gb for gb in (_folder_gb(r.adapter_dir) for r in runs) if gb), None)
        if size is None:
            return Storage(
                None, None, "the adapter's size is measured after the first run of this setup"
            )
        source = "the adapter folder of the latest finished run of this setup"
    return Storage(
        size, estimates.storage_cost_per_month(size), f"{source}, at ${price:g}/GB-month"
    )


def measured_throughput(
    model: BaseModel, hardware: Hardware, method: str
) -> tuple[float | None, int]:
    """Tokens per second over the latest finished runs of this model, GPU and method (all teams:
    a machine's speed is the same for everyone and the figure identifies no one)."""
    from .models import RunStatus, TrainingRun

    runs = list(
        TrainingRun.objects.filter(
            base_model=model,
            hardware=hardware,
            method=method,
            status=RunStatus.SUCCEEDED,
            tokens_seen__gt=0,
            wall_seconds__gt=0,
        )
        .order_by("-finished_at")
        .values_list("tokens_seen", "wall_seconds")[:MEASURED_RUNS]
    )
    if not runs:
        return None, 0
    return sum(t for t, _ in runs) / sum(w for _, w in runs), len(runs)


def expected_throughput(model: BaseModel, hardware: Hardware, method: str) -> tuple[float, str]:
    """The tokens/s an estimate assumes for this setup and where the figure comes from (the
    run page rates a run's speed against it); ValueError when there is none."""
    return estimates.throughput(_inputs_for(1, 1.0, model, hardware, method, 1))


def trained_examples(train_count: int, max_examples: int) -> int:
    """How many examples a run trains on: all of them, or its cap when that is fewer."""
    return min(train_count, max_examples) if max_examples else train_count


def _inputs(
    version, model: BaseModel, hardware: Hardware, method: str, epochs: int, max_examples: int = 0
) -> estimates.Inputs:
    avg, _ = average_tokens(version, model)
    return _inputs_for(
        max(trained_examples(version.train_count, max_examples), 1),
        round(avg, 1),
        model,
        hardware,
        method,
        epochs,
    )


def _inputs_for(
    examples: int, avg_tokens: float, model: BaseModel, hardware: Hardware, method: str, epochs
) -> estimates.Inputs:
    measured, runs = measured_throughput(model, hardware, method)
    return estimates.Inputs(
        examples=examples,
        avg_tokens_per_example=avg_tokens,
        epochs=epochs,
        params_billions=model.params_billions,
        method=method,
        hourly_price=float(hardware.hourly_price),
        gpu_slug=hardware.slug,
        measured_tokens_per_second=measured,
        measured_runs=runs,
    )


# Before any data is uploaded the agent still sizes a first run: from the number of examples
# the user gave and this length, the customer-support sample's average (82 tokens with the
# bundled model's tokenizer and chat template). The agent says it assumed it, and the
# configuration page recomputes everything from the uploaded data.
ASSUMED_TOKENS_PER_EXAMPLE = 82.0
ASSUMED_EXAMPLES = 1_000  # the recommender's own assumption when the user gave no count


def first_run_plan(
    version, model: BaseModel, hardware: Hardware, method: str, epochs: int, examples=None
) -> estimates.FirstRun | None:
    """On a CPU, the quick first run and the longer run of ``epochs`` over every example, from
    the same inputs as the page's estimate (so the agent and the page say the same). Without a
    ready dataset: ``examples`` (what the user said) at ASSUMED_TOKENS_PER_EXAMPLE. None on a
    GPU, whose runs are not resized."""
    if not hardware.is_cpu:
        return None
    try:
        if version is not None and version.is_ready:
            inputs = _inputs(version, model, hardware, method, epochs)
        else:
            inputs = _inputs_for(
                max(examples or ASSUMED_EXAMPLES, 1),
                ASSUMED_TOKENS_PER_EXAMPLE,
                model,
                hardware,
                method,
                epochs,
            )
        return estimates.first_run(inputs)
    except ValueError:
        return None


def quote(
    version,
    model: BaseModel,
    hardware: Hardware,
    method: str,
    epochs: int,
    max_examples: int = 0,
    full_epochs: int | None = None,
) -> Quote:
    """The estimate of these settings; on a CPU also the quick first run and the longer run of
    ``full_epochs`` (default: ``epochs``) over every example, for the page to offer."""
    if version is None or not version.is_ready:
        return Quote(None, "Choose a ready dataset version to estimate cost and time.")
    try:
        inputs = _inputs(version, model, hardware, method, epochs, max_examples)
        result = estimates.estimate(inputs)
    except ValueError as exc:
        if hardware.is_cpu:
            return Quote(
                None,
                "No time estimate for this machine's CPU yet: the first run measures it. "
                "Cost: $0 (your own hardware).",
                examples=version.train_count,
            )
        return Quote(None, str(exc))
    result.sources["tokens"] += " (" + average_tokens(version, model)[1] + ")"
    return Quote(
        result,
        tips=tips(version, model, hardware, method, epochs, result, max_examples),
        examples=inputs.examples,
        avg_tokens=inputs.avg_tokens_per_example,
        first_run=first_run_plan(version, model, hardware, method, full_epochs or epochs),
    )


def tips(
    version, model, hardware, method, epochs, current: estimates.Estimate, max_examples: int = 0
) -> list[Tip]:
    """Ways to spend less, each with its saving computed by the same formula."""
    found: list[Tip] = []
    if epochs > 1:
        fewer = estimates.estimate(
            _inputs(version, model, hardware, method, epochs - 1, max_examples)
        )
        found.append(Tip(f"Reduce epochs from {epochs} to {epochs - 1}", current.cost - fewer.cost))
    if method != "qlora":
        options = [
            h
            for h in Hardware.objects.filter(is_cpu=False)
            if h.fit_label(model, "qlora") == "fits"
        ]
        priced = []
        for h in options:
            try:
                priced.append(
                    (
                        estimates.estimate(
                            _inputs(version, model, h, "qlora", epochs, max_examples)
                        ).cost,
                        h,
                    )
                )
            except ValueError:
                continue
        if priced:
            cost, h = min(priced, key=lambda p: p[0])
            if cost < current.cost:
                found.append(Tip(f"Use QLoRA on {h.name} instead", current.cost - cost))
    smaller = (
        BaseModel.objects.filter(kind=model.kind, params_billions__lt=model.params_billions)
        .order_by("-params_billions")
        .first()
    )
    if smaller and hardware.fit_label(smaller, method) == "fits":
        cost = estimates.estimate(
            _inputs(version, smaller, hardware, method, epochs, max_examples)
        ).cost
        found.append(Tip(f"Use the smaller {smaller.name}", current.cost - cost))
    return [t for t in found if t.saving >= 0.0001]  # a saving that rounds to $0.0000 is no tip
