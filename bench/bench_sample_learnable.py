"""Does LoRA on the bundled model measurably improve on the customer-support sample? Base vs tuned.

Trains the bundled SmolLM2 with the settings the offline recommender gives this sample on a
CPU (LoRA r=8, alpha 16, q_proj/v_proj, lr 5e-4, batch 4 x accumulation 2, 5 epochs) on a
seeded 90% of the sample, then evaluates base and tuned on the other 10% with the product's
evaluation engine, and prints each step's wall time and both models' metrics.

    .venv/bin/python bench/bench_sample_learnable.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_training_engine import sample_records  # noqa: E402

from workers.evaluation import EvalSpec, evaluate  # noqa: E402
from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train  # noqa: E402


class Quiet:
    def stage(self, name, progress):
        pass

    def log(self, message):
        print("  " + message)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=5)
    args = parser.parse_args()
    source = ModelSource("bundled", cache_dir=str(ROOT / "var" / "models"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        everything = tmp / "all.jsonl"
        sample_records(everything)
        lines = everything.read_text().splitlines()
        random.Random(42).shuffle(lines)
        cut = len(lines) // 10
        (tmp / "test.jsonl").write_text("\n".join(lines[:cut]) + "\n")
        (tmp / "train.jsonl").write_text("\n".join(lines[cut:]) + "\n")
        print(f"{len(lines) - cut} training and {cut} test examples")

        started = time.perf_counter()
        result = train(
            JobSpec(
                source,
                str(tmp / "train.jsonl"),
                str(tmp / "run"),
                str(tmp / "test.jsonl"),
                Hyperparameters(
                    lora_r=8,
                    lora_alpha=16,
                    learning_rate=5e-4,
                    batch_size=4,
                    gradient_accumulation=2,
                    epochs=args.epochs,
                    logging_steps=10,
                ),
            ),
            ListReporter(),
        )
        trained = time.perf_counter() - started
        print(f"training: {result.steps} steps in {trained:.0f} s")
        started = time.perf_counter()
        evaluation = evaluate(
            EvalSpec(source, str(tmp / "test.jsonl"), str(tmp / "eval"), result.adapter_dir),
            Quiet(),
        )
        print(
            f"evaluation: {evaluation.examples} examples, base and tuned, in {time.perf_counter() - started:.0f} s"
        )
    keys = ("f1", "exact_match", "rouge_l", "bleu", "length_ratio", "perplexity")
    for name, scores, q in (
        ("base ", evaluation.base, evaluation.base_quality),
        ("tuned", evaluation.tuned, evaluation.tuned_quality),
    ):
        print(
            f"{name}: score {q['score']:5.1f} ({q['gate']}) "
            + " ".join(f"{k}={scores[k]:.3f}" for k in keys if scores[k] is not None)
        )
    print(
        f"improvement: {evaluation.tuned_quality['score'] - evaluation.base_quality['score']:+.1f} points"
    )
    print(json.dumps(evaluation.alerts))


if __name__ == "__main__":
    main()
