"""An evaluation, read top to bottom: test set → base answers → tuned answers → metrics → files.

No Django here: an `EvalSpec` in, stage and progress events through a reporter, an
`EvalResult` out, and metrics.json plus examples-comparison.json in the output folder.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from workers.training.data import read_records
from workers.training.spec import ModelSource

from .judge import JudgeConfig, JudgeResult, judge
from .metrics import Scores, length_alert, score_outputs, token_prf
from .quality import quality

PROGRESS_EVERY_S = 1.0  # while generating, progress is written at most this often (and per answer)


class EvalReporter(Protocol):
    def stage(self, name: str, progress: float) -> None: ...

    def log(self, message: str) -> None: ...


class EvaluationError(ValueError):
    """A state the user can act on: the message says what happened and what to do."""


@dataclass(frozen=True)
class EvalSpec:
    model: ModelSource
    test_file: str
    output_dir: str
    adapter_dir: str = ""  # "" evaluates the base model alone
    max_examples: int = 0  # 0: every test example
    batch_size: int = 0  # 0: 32 on a GPU, 8 on a CPU (bench/results: 4x faster at 32 on an H100)
    max_new_tokens_cap: int = 256
    max_length: int = 1024
    judge: JudgeConfig | None = None  # None: no LLM judge, for the reason below
    judge_off_reason: str = "No LLM judge is configured."
    benchmarks: tuple[str, ...] = ()  # keys of benchmarks.BENCHMARKS
    benchmark_items: int = 100  # items per benchmark (a seeded sample)
    hub_endpoint: str = ""  # "" : the public Hub
    hub_token: str = ""
    hub_cache_dir: str = ""


@dataclass
class EvalResult:
    examples: int
    skipped_empty_references: int
    max_new_tokens: int
    base: dict
    tuned: dict | None
    base_quality: dict
    tuned_quality: dict | None
    alerts: list[str] = field(default_factory=list)
    judge: dict = field(default_factory=dict)  # JudgeResult as a dict, or {"reason": why not}
    benchmarks: dict = field(
        default_factory=dict
    )  # key → {name, items, base, tuned} or {name, reason}


def split(conversation: list[dict]) -> tuple[list[dict], str] | None:
    """The prompt (everything before the last reply) and the reference reply."""
    for i in range(len(conversation) - 1, -1, -1):
        if conversation[i]["role"] == "assistant":
            return conversation[:i], conversation[i]["content"]
    return None


def _load(spec: EvalSpec, model_dir: str | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.training.data import FALLBACK_TEMPLATE
    from workers.training.engine import resolve_model_dir

    model_dir = model_dir or resolve_model_dir(spec.model)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_TEMPLATE
    import torch

    if torch.cuda.is_available():
        # On a GPU node: bfloat16 where supported, on the GPU.
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to("cuda")
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer


def evaluate(spec: EvalSpec, reporter: EvalReporter) -> EvalResult:
    """1. Read the test split; 2. base answers; 3. tuned answers (adapter on the same weights);
    4. metrics and quality for both; 5. write metrics.json and examples-comparison.json."""
    path = Path(spec.test_file)
    if not path.is_file():
        raise EvaluationError("This dataset version has no test split: evaluate needs one.")
    tuned_dir = Path(spec.adapter_dir) if spec.adapter_dir else None
    # A LoRA/QLoRA run leaves an adapter; full fine-tuning leaves a whole model.
    full_model = bool(
        tuned_dir
        and not (tuned_dir / "adapter_config.json").is_file()
        and (tuned_dir / "config.json").is_file()
    )
    if tuned_dir and not full_model and not (tuned_dir / "adapter_config.json").is_file():
        raise EvaluationError(
            "The run's adapter is missing (deleted or never saved): train again to evaluate it."
        )
    pairs, skipped = [], 0
    for conversation in read_records(path):
        parts = split(conversation)
        if parts is None or not parts[1].strip() or not parts[0]:
            skipped += 1
            continue
        pairs.append((conversation, *parts))
    if spec.max_examples:
        pairs = pairs[: spec.max_examples]
    if not pairs:
        raise EvaluationError(
            "The test split has no example with both a question and a non-empty reference answer."
        )
    alerts = []
    if len(pairs) < 10:
        alerts.append(
            f"Only {len(pairs)} test example{'s' if len(pairs) != 1 else ''}: the scores say little. "
            "A test split of 50+ examples gives figures you can trust."
        )
    if skipped:
        reporter.log(f"{skipped} test examples had an empty reference and were left out")

    # Loading is its own step, named while it runs: the page shows how long it has taken.
    reporter.stage("Loading the base model", 0.0)
    model, tokenizer = _load(spec)
    reporter.log("Base model loaded")
    conversations = [c for c, _, _ in pairs]
    prompts = [p for _, p, _ in pairs]
    references = [r for _, _, r in pairs]
    longest = max(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in references)
    max_new_tokens = max(16, min(spec.max_new_tokens_cap, math.ceil(longest * 1.5)))
    reporter.log(
        f"{len(pairs)} test examples; answers up to {max_new_tokens} new tokens "
        f"(1.5x the longest reference, {longest} tokens)"
    )
    n = len(pairs)
    total_stages = 2 if spec.adapter_dir else 1

    def progress(stage_index):
        """Generation reports after every token (a batch of long answers takes minutes on a
        CPU); the row is written when an answer completes, or at most once a second."""
        side = "the tuned model" if stage_index else "the base model"
        last = {"answered": -1, "at": 0.0}

        def report(done: float, answered: int) -> None:
            now = time.monotonic()
            if answered == last["answered"] and now - last["at"] < PROGRESS_EVERY_S and done < n:
                return
            last.update(answered=answered, at=now)
            reporter.stage(
                f"Answering {answered}/{n} test prompts with {side}",
                (stage_index + done / n) / total_stages * 0.9,
            )

        report(0.0, 0)
        return report

    base_answers = generate_answers(model, tokenizer, prompts, max_new_tokens, spec, progress(0))
    base_scores = score_outputs(base_answers, references)
    reporter.stage("Scoring the reference answers with the base model", 0.9 / total_stages)
    base_scores.perplexity = _perplexity(model, tokenizer, conversations, spec)
    benchmark_items = _benchmark_items(spec, reporter)
    benchmark_results = _benchmark_scores(benchmark_items, model, tokenizer, "base", {})

    tuned_answers, tuned_scores = None, None
    if spec.adapter_dir:
        reporter.stage("Loading the tuned model", 0.9 / total_stages)
        if full_model:
            del model
            model, _ = _load(spec, model_dir=str(tuned_dir))
        else:
            import torch
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec.adapter_dir)
            if model.get_base_model().dtype == torch.float32:
                # Merged into the base weights (which the base side no longer needs): unmerged,
                # every generated token pays each LoRA layer's extra matmuls and dispatch.
                # Only in float32: merged into bf16/fp16 weights, small deltas round away.
                model = model.merge_and_unload()
        model.eval()
        tuned_answers = generate_answers(
            model, tokenizer, prompts, max_new_tokens, spec, progress(1)
        )
        tuned_scores = score_outputs(tuned_answers, references)
        reporter.stage("Scoring the reference answers with the tuned model", 0.9)
        tuned_scores.perplexity = _perplexity(model, tokenizer, conversations, spec)
        benchmark_results = _benchmark_scores(
            benchmark_items, model, tokenizer, "tuned", benchmark_results
        )

    reporter.stage("Computing metrics", 0.95)
    rows = []
    for i, (_, prompt, reference) in enumerate(pairs):
        row = {
            "index": i,
            "input": prompt[-1]["content"],
            "reference": reference,
            "base": base_answers[i],
            "base_f1": round(token_prf(base_answers[i], reference)[2], 4),
        }
        if tuned_answers is not None:
            row["tuned"] = tuned_answers[i]
            row["tuned_f1"] = round(token_prf(tuned_answers[i], reference)[2], 4)
        rows.append(row)

    verdict, no_judge_reason = _judge(spec, rows, reporter)
    base_quality = quality(base_scores, verdict.base.get("average") if verdict else None)
    tuned_quality = (
        quality(tuned_scores, verdict.tuned.get("average") if verdict else None)
        if tuned_scores
        else None
    )
    main = tuned_scores or base_scores
    alert = length_alert(main.length_ratio)
    if alert:
        alerts.append(alert)
    if main.empty_outputs:
        alerts.append(f"The model answered nothing for {main.empty_outputs} of {n} examples.")
    result = EvalResult(
        examples=n,
        skipped_empty_references=skipped,
        max_new_tokens=max_new_tokens,
        base=asdict(base_scores),
        tuned=asdict(tuned_scores) if tuned_scores else None,
        base_quality=asdict(base_quality) | {"gate": base_quality.gate},
        tuned_quality=(asdict(tuned_quality) | {"gate": tuned_quality.gate})
        if tuned_quality
        else None,
        alerts=alerts,
        judge=asdict(verdict) if verdict else {"reason": no_judge_reason},
        benchmarks=benchmark_results,
    )
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(asdict(result), indent=2))
    (out / "examples-comparison.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    if benchmark_results:
        (out / "benchmark-results.json").write_text(json.dumps(benchmark_results, indent=2))
    reporter.stage("Done", 1.0)
    return result


def _judge(spec: EvalSpec, rows: list[dict], reporter) -> tuple[JudgeResult | None, str]:
    """The judge's verdict, or None and the reason it is missing."""
    if not spec.adapter_dir:
        return (
            None,
            "The judge compares base and fine-tuned answers; this evaluation has only the base model.",
        )
    if spec.judge is None:
        return None, spec.judge_off_reason
    reporter.stage("Judging answers with Gemini", 0.96)
    verdict = judge(rows, spec.judge)
    if not verdict.judged:
        reporter.log(verdict.reason)
        return None, verdict.reason
    if verdict.failed:
        reporter.log(f"The judge failed on {verdict.failed} examples; {verdict.judged} were judged")
    return verdict, ""


def _benchmark_items(spec: EvalSpec, reporter) -> dict:
    """Each asked-for benchmark's questions, or the reason it cannot run."""
    from .benchmarks import BENCHMARKS, BenchmarkUnavailable, load_items

    found = {}
    for key in spec.benchmarks:
        benchmark = BENCHMARKS[key]
        reporter.stage(f"Benchmark: {benchmark.name}", 0.9 / (2 if spec.adapter_dir else 1))
        try:
            found[key] = load_items(
                benchmark,
                spec.hub_endpoint,
                spec.hub_token,
                spec.benchmark_items,
                42,
                spec.hub_cache_dir or None,
            )
        except BenchmarkUnavailable as exc:
            reporter.log(f"{benchmark.name} skipped: {exc}")
            found[key] = str(exc)
    return found


def _benchmark_scores(items: dict, model, tokenizer, side: str, results: dict) -> dict:
    """Add one model's accuracy ("base" or "tuned") to each benchmark's result."""
    from .benchmarks import BENCHMARKS, accuracy

    results = {k: dict(v) for k, v in results.items()}
    for key, questions in items.items():
        entry = results.setdefault(key, {"name": BENCHMARKS[key].name})
        if isinstance(questions, str):
            entry["reason"] = questions
            continue
        entry["items"] = len(questions)
        entry.setdefault("tuned", None)
        entry[side] = round(accuracy(model, tokenizer, questions), 4)
    return results


def generate_answers(model, tokenizer, prompts, max_new_tokens, spec, on_progress) -> list[str]:
    from .generate import generate

    batch = spec.batch_size or (32 if model.device.type == "cuda" else 8)
    return generate(model, tokenizer, prompts, max_new_tokens, batch, on_progress)


def _perplexity(model, tokenizer, conversations, spec) -> float | None:
    from .generate import reference_perplexity

    value = reference_perplexity(model, tokenizer, conversations, spec.max_length)
    return round(value, 3) if math.isfinite(value) else None


__all__ = ["EvalResult", "EvalSpec", "EvaluationError", "Scores", "evaluate"]
