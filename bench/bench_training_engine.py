"""Training throughput: VibeFlow's engine against a plain Trainer + peft script, same model, data,
LoRA settings and number of optimizer steps, on this machine.

Useful tokens/s: the non-padding tokens each one trained on, divided by its wall time from
loading the model to the saved adapter. Three runs a round, alternated over --rounds:
- plain: the Trainer + peft script a user could write in ten minutes (whole conversations, no
  loss masking, padded batches in random order);
- engine, library path: VibeFlow's engine with its speed-ups off (labels on assistant tokens,
  transformers' own loss over every position, random batches, float32);
- engine: VibeFlow's engine as it runs by default on this device.
Each prints its final training loss (the mean of its last five logged losses) and the
evaluation loss of its adapter on the same held-out conversations (assistant tokens only, the
same for all three): the speed must not buy a worse model.

    .venv/bin/python bench/bench_training_engine.py [--steps 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.models.bundled import ensure_bundled_model  # noqa: E402
from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train  # noqa: E402

LORA = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.05}
TEST_EVERY = 10  # every 10th conversation is held out for the evaluation loss


def sample_records(train_path: Path, test_path: Path) -> None:
    with (
        open(
            ROOT / "apps/datasets/samples/customer_support.csv", newline="", encoding="utf-8"
        ) as src,
        open(train_path, "w") as train_out,
        open(test_path, "w") as test_out,
    ):
        rows = [r for r in csv.DictReader(src) if r["customer_message"].strip()]
        for i, row in enumerate(r for r in rows if r["support_reply"].strip()):
            messages = [
                {"role": "user", "content": row["customer_message"]},
                {"role": "assistant", "content": row["support_reply"]},
            ]
            out = test_out if i % TEST_EVERY == 0 else train_out
            out.write(json.dumps({"messages": messages}) + "\n")


def eval_loss(model_dir: Path, adapter_dir: Path, test_file: Path) -> float:
    """Mean loss on the assistant tokens of the held-out conversations."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

    from workers.training.data import read_records, tokenize

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir)
    model.eval()
    examples = tokenize(tokenizer, read_records(test_file), 512).examples
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), 8):
            batch = collate(examples[i : i + 8])
            labelled = int((batch["labels"][:, 1:] != -100).sum())
            total += model(**batch).loss.item() * labelled
            count += labelled
    return total / count


def _final_loss(losses: list[float]) -> float:
    return statistics.mean(losses[-5:])


def plain(model_dir: Path, train_file: Path, steps: int, out: Path) -> dict:
    started = time.perf_counter()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    records = [json.loads(line)["messages"] for line in open(train_file)]
    examples = [
        tokenizer(tokenizer.apply_chat_template(m, tokenize=False), add_special_tokens=False)
        for m in records
    ]
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(task_type="CAUSAL_LM", **LORA),
    )
    counted = {"tokens": 0}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def collate(features):
        counted["tokens"] += sum(len(f["input_ids"]) for f in features)
        return collator(
            [{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]} for f in features]
        )

    losses = []

    class Losses(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=4,
        max_steps=steps,
        learning_rate=5e-4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=42,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=[dict(e) for e in examples],
        data_collator=collate,
        callbacks=[Losses()],
    )
    trainer.train()
    trainer.save_model(str(out / "adapter"))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "tokens": counted["tokens"],
        "loss": _final_loss(losses),
        "adapter": out / "adapter",
    }


def engine(model_dir: Path, train_file: Path, steps: int, out: Path, fast: bool | None) -> dict:
    """``fast``: None for the engine's defaults on this device, False for the library path."""
    spec = JobSpec(
        ModelSource("path", str(model_dir)),
        str(train_file),
        str(out),
        hyperparameters=Hyperparameters(
            batch_size=4,
            max_steps=steps,
            learning_rate=5e-4,
            lora_r=LORA["r"],
            lora_alpha=LORA["lora_alpha"],
            lora_dropout=LORA["lora_dropout"],
            target_modules=tuple(LORA["target_modules"]),
            logging_steps=1,
            save_steps=10_000,
            label_only_loss=fast,
            group_by_length=fast,
            bf16=fast,
        ),
    )
    reporter = ListReporter()
    started = time.perf_counter()
    result = train(spec, reporter)
    seconds = time.perf_counter() - started
    losses = [p["loss"] for p in reporter.points if "loss" in p]
    return {
        "seconds": seconds,
        "tokens": result.tokens_seen,
        "loss": _final_loss(losses),
        "adapter": Path(result.adapter_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model_dir = ensure_bundled_model(ROOT / "var" / "models")
    names = ("plain", "library", "engine")
    results: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_file, test_file = tmp / "train.jsonl", tmp / "test.jsonl"
        sample_records(train_file, test_file)
        plain(model_dir, train_file, 2, tmp / "warmup")  # first-use costs out of every timing
        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                out = tmp / f"{name}-{round_}"
                if name == "plain":
                    run = plain(model_dir, train_file, args.steps, out)
                else:
                    run = engine(
                        model_dir, train_file, args.steps, out, None if name == "engine" else False
                    )
                run["eval_loss"] = eval_loss(model_dir, run["adapter"], test_file)
                run["rate"] = run["tokens"] / run["seconds"]
                results[name].append(run)
                print(
                    f"round {round_ + 1} {name:8s}: {args.steps} steps in {run['seconds']:.1f} s, "
                    f"{run['tokens']:,} useful tokens, {run['rate']:,.0f} tokens/s, "
                    f"train loss {run['loss']:.3f}, eval loss {run['eval_loss']:.3f}",
                    flush=True,
                )
    rate = {name: statistics.median(r["rate"] for r in results[name]) for name in names}
    evals = {name: statistics.mean(r["eval_loss"] for r in results[name]) for name in names}
    pairs = [
        e["rate"] / p["rate"] for e, p in zip(results["engine"], results["plain"], strict=True)
    ]
    print(
        f"useful tokens/s (median of {args.rounds}): plain {rate['plain']:,.0f}, "
        f"engine library path {rate['library']:,.0f}, engine {rate['engine']:,.0f}"
    )
    print(
        f"ratio: engine / plain script = {rate['engine'] / rate['plain']:.2f}x "
        f"(per round: {', '.join(f'{x:.2f}x' for x in pairs)}; target >= 1.5x); "
        f"engine / its library path = {rate['engine'] / rate['library']:.2f}x"
    )
    print(
        f"eval loss on the held-out assistant replies: plain {evals['plain']:.3f} (trained on "
        f"whole conversations), library path {evals['library']:.3f}, engine {evals['engine']:.3f}"
    )


if __name__ == "__main__":
    main()
