"""Training throughput: VibeFlow's engine against a plain Trainer + peft script, same model, data and steps.

Both fine-tune the bundled SmolLM2 with LoRA (r=8, q_proj/v_proj), batch 4, for
--steps optimizer steps on the customer-support sample, on this CPU, in one process
each after a warm-up. The plain script trains on whole conversations (no loss masking,
no length handling); tokens/second counts the non-padding tokens each one fed the model.

    .venv/bin/python bench/bench_training_engine.py [--steps 20]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.models.bundled import ensure_bundled_model  # noqa: E402
from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train  # noqa: E402


def sample_records(path: Path) -> None:
    with (
        open(
            ROOT / "apps/datasets/samples/customer_support.csv", newline="", encoding="utf-8"
        ) as src,
        open(path, "w") as out,
    ):
        for row in csv.DictReader(src):
            if row["customer_message"].strip() and row["support_reply"].strip():
                messages = [
                    {"role": "user", "content": row["customer_message"]},
                    {"role": "assistant", "content": row["support_reply"]},
                ]
                out.write(json.dumps({"messages": messages}) + "\n")


def plain(model_dir: Path, train_file: Path, steps: int, out: Path) -> tuple[float, int]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
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
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    counted = {"tokens": 0}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def collate(features):
        counted["tokens"] += sum(len(f["input_ids"]) for f in features)
        return collator(
            [{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]} for f in features]
        )

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=4,
        max_steps=steps,
        learning_rate=5e-4,
        logging_steps=5,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=42,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=[dict(e) for e in examples], data_collator=collate
    )
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, counted["tokens"]


def engine(
    model_dir: Path, train_file: Path, steps: int, out: Path, packing: bool = False
) -> tuple[float, int]:
    spec = JobSpec(
        ModelSource("path", str(model_dir)),
        str(train_file),
        str(out),
        hyperparameters=Hyperparameters(
            batch_size=4,
            max_steps=steps,
            learning_rate=5e-4,
            logging_steps=5,
            save_steps=10_000,
            packing=packing,
        ),
    )
    started = time.perf_counter()
    result = train(spec, ListReporter())
    return time.perf_counter() - started, result.tokens_seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    model_dir = ensure_bundled_model(ROOT / "var" / "models")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_file = tmp / "train.jsonl"
        sample_records(train_file)
        plain(
            model_dir, train_file, 2, tmp / "warmup"
        )  # first-use costs (imports, allocator) out of both timings
        p_time, p_tokens = plain(model_dir, train_file, args.steps, tmp / "plain")
        e_time, e_tokens = engine(model_dir, train_file, args.steps, tmp / "engine")
        u_time, u_tokens = engine(model_dir, train_file, args.steps, tmp / "packed", packing=True)
    p_rate, e_rate, u_rate = p_tokens / p_time, e_tokens / e_time, u_tokens / u_time
    print(
        f"plain Trainer+peft: {args.steps} steps in {p_time:.1f} s, {p_tokens:,} tokens, {p_rate:,.0f} tokens/s"
    )
    print(
        f"VibeFlow engine:    {args.steps} steps in {e_time:.1f} s, {e_tokens:,} tokens, {e_rate:,.0f} tokens/s (includes loading and saving the adapter)"
    )
    print(
        f"VibeFlow, packed:   {args.steps} steps in {u_time:.1f} s, {u_tokens:,} tokens, {u_rate:,.0f} tokens/s (packing on)"
    )
    print(
        f"ratio: engine throughput (packing off, the default) is {e_rate / p_rate:.2f}x the plain script's (target >= 1.0); "
        f"packing on vs off: {u_rate / e_rate:.2f}x"
    )
    print(
        "reporting overhead to PostgreSQL and the channel layer: not measured by this script (it runs without Django)"
    )


if __name__ == "__main__":
    main()
