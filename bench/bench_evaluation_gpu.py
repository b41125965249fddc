"""The evaluation engine on a CUDA GPU: base vs tuned answers for the sample's test examples.

Like bench_training_gpu.py, on random initialisations of SmolLM2's configurations with the
bundled tokenizer (``--tokenizer``): the answers are noise, the throughput is real. Trains
a LoRA adapter for a few steps, then evaluates base and tuned on 64 examples and prints the
wall time and generated tokens per second of the whole evaluation.

    python bench/bench_evaluation_gpu.py --tokenizer DIR
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import require_cuda  # noqa: E402
from bench_training_engine import sample_records  # noqa: E402
from bench_training_gpu import SMOLLM2_1_7B, engine, random_model  # noqa: E402

from workers.evaluation import EvalSpec, evaluate  # noqa: E402
from workers.training import ModelSource  # noqa: E402


class Stages:
    def __init__(self):
        self.stages = []

    def stage(self, name, progress):
        self.stages.append((time.perf_counter(), name))

    def log(self, message):
        print("  " + message)


def main() -> None:
    require_cuda()  # before the arguments: on a CPU machine, that is the one thing to say
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=64)
    args = parser.parse_args()
    import torch

    print(f"GPU: {torch.cuda.get_device_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "all.jsonl"
        sample_records(data)
        test = tmp / "test.jsonl"
        test.write_text("".join(data.read_text().splitlines(keepends=True)[: args.examples]))
        for name, overrides in (("SmolLM2-135M", {}), ("SmolLM2-1.7B", SMOLLM2_1_7B)):
            model_dir = random_model(args.tokenizer, tmp / name, **overrides)
            _, result, _, _ = engine(model_dir, data, tmp / f"run-{name}", max_steps=20)
            for batch in (8, 32):
                stages = Stages()
                started = time.perf_counter()
                evaluation = evaluate(
                    EvalSpec(
                        ModelSource("path", str(model_dir)),
                        str(test),
                        str(tmp / f"eval-{name}-{batch}"),
                        result.adapter_dir,
                        batch_size=batch,
                    ),
                    stages,
                )
                took = time.perf_counter() - started
                print(
                    f"{name} (random init), batch {batch}: {evaluation.examples} examples x 2 models "
                    f"in {took:.1f} s (answers up to {evaluation.max_new_tokens} tokens), "
                    f"{2 * evaluation.examples / took:.1f} answers/s; "
                    f"tuned perplexity {evaluation.tuned['perplexity']}, device cuda"
                )


if __name__ == "__main__":
    main()
