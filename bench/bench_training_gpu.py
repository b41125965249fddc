"""Training on a CUDA GPU: engine vs plain Trainer + peft, QLoRA's memory, and OOM recovery.

For a GPU node (the device machine); on a CPU it says so and exits. It needs the weights'
shapes, not their values, so the models are random initialisations of SmolLM2-135M's and
SmolLM2-1.7B's published configurations with the bundled tokenizer (``--tokenizer``: a
folder holding the converted bundled model's tokenizer and config files); throughput and
memory are the same as with the real weights.

    python bench/bench_training_gpu.py --tokenizer DIR [--steps 30]

Prints, per model: tokens/s of both and their ratio (bf16 LoRA, r=8, q_proj/v_proj, batch
16), peak GPU memory of LoRA and QLoRA (4-bit nf4 through bitsandbytes), one metrics
point as the engine reports it (GPU memory and utilisation through nvidia-ml-py), and
an out-of-memory run that the engine recovers from by halving the batch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import require_cuda  # noqa: E402
from bench_training_engine import sample_records  # noqa: E402

from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train  # noqa: E402

SMOLLM2_1_7B = dict(
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=24,
    num_attention_heads=32,
    num_key_value_heads=32,
    max_position_embeddings=8192,
    rope_theta=130000,
)


def random_model(tokenizer_dir: Path, out: Path, **overrides) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    shutil.copytree(tokenizer_dir, out)
    config = AutoConfig.from_pretrained(out)
    for key, value in overrides.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out


def plain(model_dir: Path, train_file: Path, steps: int, batch: int, out: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    records = [json.loads(line)["messages"] for line in open(train_file)]
    examples = [
        dict(tokenizer(tokenizer.apply_chat_template(m, tokenize=False), add_special_tokens=False))
        for m in records
    ]
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    counted = {"tokens": 0}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def collate(features):
        counted["tokens"] += sum(len(f["input_ids"]) for f in features)
        return collator(features)

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=5e-4,
        logging_steps=5,
        save_strategy="no",
        bf16=True,
        report_to=[],
        seed=42,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collate)
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    started = time.perf_counter()
    trainer.train()
    torch.cuda.synchronize()
    return time.perf_counter() - started, counted["tokens"], torch.cuda.max_memory_allocated()


def engine(model_dir, train_file, out, reporter=None, **hp):
    import torch

    values = dict(batch_size=16, learning_rate=5e-4, logging_steps=5, save_steps=10_000)
    values.update(hp)
    spec = JobSpec(
        ModelSource("path", str(model_dir)),
        str(train_file),
        str(out),
        hyperparameters=Hyperparameters(**values),
    )
    reporter = reporter or ListReporter()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    started = time.perf_counter()
    result = train(spec, reporter)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    torch.cuda.empty_cache()
    return elapsed, result, torch.cuda.max_memory_allocated(), reporter


def long_records(path: Path, words: int) -> None:
    """Conversations with long replies, so that activations, not weights, fill the GPU."""
    reply = " ".join(f"step {i} of the refund process" for i in range(words // 6))
    with open(path, "w") as out:
        for i in range(256):
            messages = [
                {"role": "user", "content": f"Explain refund case {i} in full detail."},
                {"role": "assistant", "content": reply},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")


def main() -> None:
    require_cuda()  # before the arguments: on a CPU machine, that is the one thing to say
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    import torch

    GIB = 1024**3
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "train.jsonl"
        sample_records(data)
        models = {
            "SmolLM2-135M (random init)": random_model(args.tokenizer, tmp / "m135"),
            "SmolLM2-1.7B (random init)": random_model(
                args.tokenizer, tmp / "m1p7", **SMOLLM2_1_7B
            ),
        }
        for name, model_dir in models.items():
            plain(model_dir, data, 3, 16, tmp / "warm")  # first-use costs out of both timings
            p_time, p_tokens, p_mem = plain(model_dir, data, args.steps, 16, tmp / "plain")
            e_time, result, e_mem, reporter = engine(
                model_dir, data, tmp / f"engine-{model_dir.name}", max_steps=args.steps
            )
            u_time, u_result, u_mem, _ = engine(
                model_dir, data, tmp / f"padded-{model_dir.name}", max_steps=args.steps
            )
            k_time, k_result, k_mem, _ = engine(
                model_dir,
                data,
                tmp / f"packed-{model_dir.name}",
                max_steps=args.steps,
                packing=True,
            )
            p_rate, e_rate = p_tokens / p_time, result.tokens_seen / e_time
            print(f"\n{name}, LoRA bf16, batch 16, {args.steps} steps")
            print(f"  plain Trainer+peft: {p_rate:,.0f} tokens/s, peak {p_mem / GIB:.2f} GiB")
            print(
                f"  VibeFlow engine:    {e_rate:,.0f} tokens/s, peak {e_mem / GIB:.2f} GiB "
                f"(includes loading and saving)  ratio {e_rate / p_rate:.2f}x"
            )
            k_rate = k_result.tokens_seen / k_time
            print(
                f"  engine, packing:    {k_rate:,.0f} tokens/s, peak {k_mem / GIB:.2f} GiB "
                f"ratio {k_rate / p_rate:.2f}x plain; padded again: "
                f"{u_result.tokens_seen / u_time:,.0f} tokens/s (run-to-run spread)"
            )
            last = [p for p in reporter.points if "loss" in p][-1]
            print(
                "  last metrics point: "
                + ", ".join(
                    f"{k}={last[k]}"
                    for k in sorted(last)
                    if k.startswith("gpu_") or k in ("step", "loss", "tokens_per_s")
                )
            )
            q_time, q_result, q_mem, q_reporter = engine(
                model_dir,
                data,
                tmp / f"qlora-{model_dir.name}",
                method="qlora",
                max_steps=args.steps,
            )
            print(
                f"  QLoRA (nf4, bitsandbytes): {q_result.tokens_seen / q_time:,.0f} tokens/s, "
                f"peak {q_mem / GIB:.2f} GiB ({q_mem / e_mem:.2f}x LoRA's), "
                f"final loss {[p for p in q_reporter.points if 'loss' in p][-1]['loss']:.3f}"
            )

        long_data = tmp / "long.jsonl"
        long_records(long_data, words=900)
        reporter = ListReporter()
        o_time, o_result, o_mem, _ = engine(
            models["SmolLM2-1.7B (random init)"],
            long_data,
            tmp / "oom",
            reporter,
            batch_size=128,
            max_steps=3,
            max_seq_length=1024,
            save_steps=1,
        )
        print("\nOut of memory on purpose: 1.7B LoRA, 1024-token examples, batch 128")
        for line in reporter.logs:
            if line.startswith("CUDA out of memory"):
                print("  " + line)
        print(
            f"  finished {o_result.steps} steps at batch {o_result.batch_size} x accumulation "
            f"{o_result.gradient_accumulation} in {o_time:.0f} s, peak {o_mem / GIB:.1f} GiB"
        )


if __name__ == "__main__":
    main()
