"""The offline recommender: the product spec's decision tree and hyperparameter tables.

It answers when Gemini is not configured, fails or times out, in the same
structured shape, and every answer (its own or Gemini's) goes through
``validate`` so a model that cannot fit the chosen hardware is never recommended.
Plain data in, plain data out: the catalog is passed in, not queried.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from apps.catalog import vram

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
    """Spec "Learning Rate Selection"."""
    full = method == "full"
    if examples < 1_000:
        return 1e-4 if full else 5e-4
    if examples < 10_000:
        return 5e-5 if full else 5e-4
    if examples < 100_000:
        return 2e-5 if full else 2e-4
    return 1e-5 if full else 1e-4


def epochs_for(examples: int) -> int:
    """Spec "Epoch Selection": small 5-10, medium 3-5, large 1-2 (the lower end of each)."""
    if examples < 1_000:
        return 5
    if examples < 10_000:
        return 3
    if examples < 100_000:
        return 2
    return 1


def batch_for(gpu: GpuEntry, method: str) -> tuple[int, int]:
    """Spec "Batch Size Selection"; (per-device batch, gradient accumulation) keeping an effective batch of 8+."""
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


def _pick(models: list[ModelEntry], slug_part: str) -> ModelEntry | None:
    return next((m for m in models if slug_part in m.slug), None)


def decide(req: Request, models: list[ModelEntry], gpus: list[GpuEntry]) -> Recommendation:
    """The spec's decision tree, then the tables, then ``validate``."""
    examples = req.examples or 1_000
    gpu = next((g for g in gpus if g.slug == (req.gpu or "")), None)
    reasons: list[str] = []
    if gpu is None or gpu.is_cpu:
        gpu = next((g for g in gpus if g.is_cpu), None)
        model = next((m for m in models if m.bundled), None)
        if gpu is None or model is None:
            raise ValueError("the catalog has no CPU entry or no bundled model: run the migrations")
        method = "lora"
        reasons.append(
            "No GPU: the bundled SmolLM2 is the one model that trains on a CPU in minutes."
        )
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
        f"Learning rate {rec.learning_rate:g}: the spec's value for {examples:,} examples with {method}."
    )
    rec.reasons.append(
        f"{rec.epochs} epoch{'s' if rec.epochs != 1 else ''}: the spec's range for this dataset size."
    )
    if examples < 1_000:
        rec.risks.append(f"{examples:,} examples is on the small side: watch for overfitting.")
    if req.examples is None:
        rec.risks.append(
            "Dataset size assumed to be about 1,000 examples until you tell me or upload data."
        )
    return validate(rec, models, gpus)


def validate(rec: Recommendation, models: list[ModelEntry], gpus: list[GpuEntry]) -> Recommendation:
    """Make the recommendation trainable on its hardware, saying what changed and why.

    1. If the model does not fit with the method, try QLoRA on the same GPU.
    2. Else move to the cheapest GPU where it fits (LoRA, then QLoRA).
    3. Else pick the largest smaller model that fits the GPU.
    Raises ValueError for a recommendation naming a model or GPU not in the catalog.
    """
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
