"""The offline recommender: the decision tree and hyperparameter tables of docs/PRODUCT.md 1.3 and 3.3.

It answers when Gemini is not configured, fails or times out, in the same
structured shape, and every answer (its own or Gemini's) goes through
``validate`` so a model that cannot fit the chosen hardware is never recommended.
Plain data in, plain data out: the catalog is passed in, not queried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from apps.catalog import vram
from apps.training.estimates import FirstRun, epochs_for, format_duration

PRIORITIES = ("speed", "accuracy", "cost")


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    name: str
    params_billions: float
    kind: str
    bundled: bool = False


@dataclass(frozen=True)
class GpuEntry:
    slug: str
    name: str
    vram_gb: float
    hourly_price: float
    is_cpu: bool = False


@dataclass
class Request:
    goal: str
    examples: int | None = None
    priority: str | None = None
    gpu: str | None = None  # a hardware slug, "cpu" for none


@dataclass
class Recommendation:
    base_model: str
    method: str
    hardware: str
    lora_r: int
    lora_alpha: int
    target_modules: list[str]
    learning_rate: float
    batch_size: int
    gradient_accumulation: int
    epochs: int
    reasons: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    source: str = "offline recommender (VibeFlow's decision tree)"
    max_examples: int = 0  # 0: every example; a quick first run on a CPU trains on fewer
    # On a CPU: what the first run and the longer one take ({examples, epochs, max_examples,
    # seconds, seconds_low, seconds_high}), and the sentence saying so in the agent's answer.
    first_run: dict | None = None
    longer_run: dict | None = None
    timing: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


_SUPPORT = re.compile(r"customer|support|help ?desk|service|ticket|reply|replies", re.I)
_TECHNICAL = re.compile(r"technical|documentation|docs|api|q&a|faq", re.I)
_CODE = re.compile(r"\bcode\b|coding|programming|sql|python|javascript", re.I)


def clarifying_questions(req: Request) -> list[str]:
    questions = []
    if req.examples is None:
        questions.append("How many training examples do you have? (100, 1K, 10K, 100K+)")
    if req.priority is None:
        questions.append("What's your priority: speed, accuracy, or cost?")
    if req.gpu is None:
        questions.append("Do you have GPU access? If not, I'll optimize for CPU.")
    return questions


def learning_rate(examples: int, method: str) -> float:
    """docs/PRODUCT.md "Learning Rate Selection" (3.3)."""
    full = method == "full"
    if examples < 1_000:
        return 1e-4 if full else 5e-4
    if examples < 10_000:
        return 5e-5 if full else 5e-4
    if examples < 100_000:
        return 2e-5 if full else 2e-4
    return 1e-5 if full else 1e-4


def batch_for(gpu: GpuEntry, method: str) -> tuple[int, int]:
    """docs/PRODUCT.md "Batch Size Selection" (3.3); (per-device batch, gradient accumulation) keeping an effective batch of 8+."""
    table = {
        "a100-40gb": 8,
        "a100-80gb": 32,
        "h100": 32,
        "l40s": 12,
        "rtx-4090": 4 if method != "qlora" else 8,
        "t4": 2,
    }
    batch = 4 if gpu.is_cpu else table.get(gpu.slug, 4)
    return batch, max(1, 8 // batch)


def lora_rank(examples: int, goal: str) -> int:
    if _CODE.search(goal) or examples >= 10_000:
        return 32 if _CODE.search(goal) else 16
    if _TECHNICAL.search(goal):
        return 16
    return 8


# Sizes a CPU run: (model slug, hardware slug, method, epochs of the full run) → the quick
# first run and the longer one, or None when there is nothing to estimate from. The Django
# side builds it from the project's data and the machine's measured speed (apps/training).
Sizer = Callable[[str, str, str, int], FirstRun | None]


def _run_dict(size, all_examples: int) -> dict:
    e = size.estimate
    return {
        "examples": size.examples,
        "epochs": size.epochs,
        "max_examples": 0 if size.examples >= all_examples else size.examples,
        "seconds": round(e.seconds, 1),
        "seconds_low": round(e.seconds_low, 1),
        "seconds_high": round(e.seconds_high, 1),
    }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def duration_range(e) -> str:
    """'7m–9m': the same words the configuration page shows for an estimate."""
    return f"{format_duration(e.seconds_low)}–{format_duration(e.seconds_high)}"


def timing_sentence(plan: FirstRun, assumed_data: bool) -> str:
    """What the first run and the longer one take, in the words the user reads."""
    quick, longer = plan.quick, plan.longer
    if not plan.reduced:
        text = (
            f"On this CPU, training on all {_plural(quick.examples, 'example')} × "
            f"{_plural(quick.epochs, 'epoch')} takes about {duration_range(quick.estimate)}."
        )
    else:
        over = (
            f"all {_plural(quick.examples, 'example')}"
            if quick.examples >= plan.all_examples
            else f"{quick.examples:,} of the {_plural(plan.all_examples, 'example')}"
        )
        text = (
            f"On this CPU, a first run of {_plural(quick.epochs, 'epoch')} over {over} takes "
            f"about {duration_range(quick.estimate)}, so you see the whole path work first. "
            f"A longer run, all {_plural(longer.examples, 'example')} × "
            f"{_plural(longer.epochs, 'epoch')}, takes about {duration_range(longer.estimate)}"
            " and usually fits your task better: it learns from every example, more than once."
            " You can switch to it in one click."
        )
    if quick.estimate.assumed:
        text += " (This CPU's speed is an assumption until your first run here measures it.)"
    if assumed_data:
        text += (
            " (Assuming examples of about the sample data's length; the configuration page"
            " recomputes this from your data.)"
        )
    return text


def apply_first_run(rec: Recommendation, plan: FirstRun, assumed_data: bool = False) -> None:
    """Make a CPU recommendation the quick first run, keeping the longer run as the option."""
    full_epochs = rec.epochs
    rec.first_run = _run_dict(plan.quick, plan.all_examples)
    rec.longer_run = _run_dict(plan.longer, plan.all_examples)
    rec.epochs, rec.max_examples = plan.quick.epochs, plan.max_examples
    rec.timing = timing_sentence(plan, assumed_data)
    if plan.reduced:
        # The epochs reason of the table no longer describes what is recommended.
        rec.reasons = [r for r in rec.reasons if not r.startswith(f"{full_epochs} epoch")]
        rec.reasons.append(
            "Sized to finish in about 10 minutes on this CPU: "
            + (
                f"{_plural(rec.epochs, 'epoch')} instead of {full_epochs}"
                if plan.quick.examples >= plan.all_examples
                else f"{_plural(rec.epochs, 'epoch')} over {plan.quick.examples:,} of the "
                f"{plan.all_examples:,} examples, picked at random"
            )
            + "."
        )


def _pick(models: list[ModelEntry], slug_part: str) -> ModelEntry | None:
    return next((m for m in models if slug_part in m.slug), None)


def decide(
    req: Request,
    models: list[ModelEntry],
    gpus: list[GpuEntry],
    sizer: Sizer | None = None,
    assumed_data: bool = False,
) -> Recommendation:
    """The decision tree (docs/PRODUCT.md 1.3), then the tables, then ``validate`` (which sizes a CPU run
    with ``sizer``)."""
    examples = req.examples or 1_000
    gpu = next((g for g in gpus if g.slug == (req.gpu or "")), None)
    reasons: list[str] = []
    if gpu is None or gpu.is_cpu:
        gpu = next((g for g in gpus if g.is_cpu), None)
        model = next((m for m in models if m.bundled), None)
        if gpu is None or model is None:
            raise ValueError("the catalog has no CPU entry or no bundled model: run the migrations")
        method = "lora"
        # How long it takes comes from the estimate (``sizer``), not from a promise here.
        reasons.append("No GPU: the bundled SmolLM2 is the one model small enough for a CPU.")
    elif gpu.vram_gb < 20 and _pick(models, "phi-3"):
        model, method = _pick(models, "phi-3"), "qlora"
        reasons.append(f"{gpu.name} has {gpu.vram_gb:g} GB: Phi-3 with QLoRA keeps memory low.")
    elif examples >= 100_000 and _pick(models, "llama-3.1-70b"):
        model, method = _pick(models, "llama-3.1-70b"), "lora"
        reasons.append(f"{examples:,} examples can teach a large model: Llama 3.1 70B.")
    elif _SUPPORT.search(req.goal) and _pick(models, "mistral-7b"):
        model, method = _pick(models, "mistral-7b"), "lora"
        reasons.append("Customer support needs instruction following, where Mistral 7B excels.")
    elif req.priority == "accuracy" and _pick(models, "llama-2-13b"):
        model, method = _pick(models, "llama-2-13b"), "qlora"
        reasons.append("Accuracy first on one GPU: a 13B model with QLoRA.")
    elif req.priority == "speed" or req.priority == "cost":
        model, method = _pick(models, "qwen2.5-1.5b") or models[0], "lora"
        reasons.append(
            f"{req.priority.capitalize()} first: a small model trains and answers fast and cheap."
        )
    else:
        model, method = (
            _pick(models, "qwen2.5-7b") or _pick(models, "mistral-7b") or models[0],
            "lora",
        )
        reasons.append("A 7B chat model balances quality and cost for most tasks.")
    batch, accumulation = batch_for(gpu, method)
    rank = lora_rank(examples, req.goal)
    rec = Recommendation(
        base_model=model.slug,
        method=method,
        hardware=gpu.slug,
        lora_r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj"],
        learning_rate=learning_rate(examples, method),
        batch_size=batch,
        gradient_accumulation=accumulation,
        epochs=epochs_for(examples),
        reasons=reasons,
        questions=clarifying_questions(req),
    )
    rec.reasons.append(
        f"Learning rate {rec.learning_rate:g}: VibeFlow's default for {examples:,} examples with {method}."
    )
    rec.reasons.append(
        f"{rec.epochs} epoch{'s' if rec.epochs != 1 else ''}: VibeFlow's default for a dataset of "
        "this size (the fewer the examples, the more passes over them)."
    )
    if examples < 1_000:
        rec.risks.append(f"{examples:,} examples is on the small side: watch for overfitting.")
    if req.examples is None:
        rec.risks.append(
            "Dataset size assumed to be about 1,000 examples until you tell me or upload data."
        )
    return validate(rec, models, gpus, sizer, assumed_data)


def validate(
    rec: Recommendation,
    models: list[ModelEntry],
    gpus: list[GpuEntry],
    sizer: Sizer | None = None,
    assumed_data: bool = False,
) -> Recommendation:
    """Make the recommendation trainable on its hardware, saying what changed and why.

    1. If the model does not fit with the method, try QLoRA on the same GPU.
    2. Else move to the cheapest GPU where it fits (LoRA, then QLoRA).
    3. Else pick the largest smaller model that fits the GPU.
    4. On a CPU, with a ``sizer``: make it a first run that finishes in about ten minutes,
       the full run kept as the option (GPU runs are left as they are).
    Raises ValueError for a recommendation naming a model or GPU not in the catalog.
    """
    rec = _fit(rec, models, gpus)
    gpu = next(g for g in gpus if g.slug == rec.hardware)
    if gpu.is_cpu and sizer is not None:
        plan = sizer(rec.base_model, rec.hardware, rec.method, rec.epochs)
        if plan is not None:
            apply_first_run(rec, plan, assumed_data)
    return rec


def _fit(rec: Recommendation, models: list[ModelEntry], gpus: list[GpuEntry]) -> Recommendation:
    model = next((m for m in models if m.slug == rec.base_model), None)
    gpu = next((g for g in gpus if g.slug == rec.hardware), None)
    if model is None or gpu is None:
        raise ValueError(f"unknown model {rec.base_model!r} or hardware {rec.hardware!r}")
    if rec.method not in vram.METHODS:
        raise ValueError(f"unknown method {rec.method!r}")
    for name, low, high in (
        ("lora_r", 1, 256),
        ("lora_alpha", 1, 1024),
        ("learning_rate", 1e-6, 1e-2),
        ("batch_size", 1, 256),
        ("gradient_accumulation", 1, 128),
        ("epochs", 1, 50),
    ):
        if not low <= getattr(rec, name) <= high:
            raise ValueError(f"{name} {getattr(rec, name)} is outside {low}–{high}")

    def fits(m: ModelEntry, method: str, g: GpuEntry) -> bool:
        if g.is_cpu:
            return method == "lora" and m.params_billions <= 0.5
        return vram.fit(m.params_billions, method, g.vram_gb)

    if fits(model, rec.method, gpu):
        return rec
    if not gpu.is_cpu and rec.method != "qlora" and fits(model, "qlora", gpu):
        rec.risks.append(
            f"{model.name} with {rec.method} does not fit {gpu.name}: switched to QLoRA."
        )
        rec.method = "qlora"
        return rec
    for method in ("lora", "qlora"):
        for other in sorted((g for g in gpus if not g.is_cpu), key=lambda g: g.hourly_price):
            if fits(model, method, other):
                rec.risks.append(
                    f"{model.name} does not fit {gpu.name}: moved to {other.name} with {method}."
                )
                rec.hardware, rec.method = other.slug, method
                rec.batch_size, rec.gradient_accumulation = batch_for(other, method)
                return rec
    smaller = [
        m for m in models if m.params_billions < model.params_billions and fits(m, "lora", gpu)
    ]
    if smaller:
        best = max(smaller, key=lambda m: m.params_billions)
        rec.risks.append(f"{model.name} does not fit {gpu.name}: using {best.name} instead.")
        rec.base_model, rec.method = best.slug, "lora"
        return rec
    raise ValueError(f"nothing in the catalog fits {gpu.name}")
