"""The training workflow, read top to bottom: checks → tokenizer → data → model → trainer → train → save.

transformers' Trainer and peft do the work; this module wires them to a JobSpec and
a Reporter, and turns their callbacks into the product's events.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from .alerts import AlertWatch, overfitting_risk
from .data import read_records, subset, tokenize
from .gpu import probe as gpu_probe
from .reporter import Reporter
from .spec import JobSpec, Result
from .speed import supports_label_only, trainer_class


class QLoRANeedsCuda(RuntimeError):
    pass


def _model_dir(spec: JobSpec) -> str:
    return resolve_model_dir(spec.model)


def resolve_model_dir(source) -> str:
    """A directory (or Hub id) transformers loads the ModelSource from."""
    if source.kind == "bundled":
        from workers.models.bundled import ensure_bundled_model

        return str(ensure_bundled_model(Path(source.cache_dir or "var/models")))
    return source.value  # a local path, or a Hub id that transformers downloads


def _callback(reporter: Reporter, started: float, total_steps_hint, gpu=None):
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    class Events(TrainerCallback, ExportableState):
        """Trainer events → Reporter; the stop request is checked after every step.

        Tokens seen are the trainer's own count (``state.num_input_tokens_seen``: the tokens of
        the batches actually trained on, eval batches not included), which every checkpoint
        stores and a resume restores. The time trained before a checkpoint is stored in it too,
        as this callback's exported state (``stateful_callbacks`` in trainer_state.json), so
        after a resume elapsed time and the run's wall time go on from the checkpoint's values.
        """

        def __init__(self):
            self.best_eval = math.inf
            self.last_eval = None
            self.watch = AlertWatch()
            self.elapsed_before = 0.0  # trained before the checkpoint this attempt resumed
            self.first_step = 0  # the step this attempt started from
            self.tokens_at_start = 0
            self.data_wait_s = 0.0  # this attempt's time fetching batches (speed.trainer_class)

        def state(self) -> dict:
            return {
                "args": {},
                "attributes": {
                    "elapsed_s": round(self.elapsed(), 2),
                    # on_save marks the checkpoint being saved after this is written
                    "best_eval": _finite(min(self.best_eval, self.last_eval or math.inf)),
                },
            }

        def elapsed(self) -> float:
            """Time trained in all: this attempt's and what came before its checkpoint."""
            return self.elapsed_before + (time.monotonic() - started)

        def on_train_begin(self, args, state, control, **kwargs):
            self.first_step = state.global_step
            self.tokens_at_start = state.num_input_tokens_seen
            if not state.global_step:
                return  # a fresh start: the state holds this callback's own values, not saved ones
            # Resumed: the checkpoint's trainer_state.json is loaded by now. One written before
            # this callback kept state has no entry for it, and the Trainer's next checkpoint
            # save looks that entry up (KeyError): give it one.
            state.stateful_callbacks.setdefault(type(self).__name__, {})
            saved = (state.stateful_callbacks or {}).get(type(self).__name__) or {}
            if isinstance(saved, list):
                saved = saved[-1] if saved else {}
            attributes = saved.get("attributes", {})
            self.elapsed_before = float(attributes.get("elapsed_s") or 0.0)
            if attributes.get("best_eval") is not None:
                self.best_eval = float(attributes["best_eval"])

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            session = time.monotonic() - started
            total = state.max_steps or total_steps_hint
            tokens = int(state.num_input_tokens_seen)
            point = {
                "step": state.global_step,
                "total_steps": total,
                "epoch": round(state.epoch or 0, 4),
                "elapsed_s": round(self.elapsed(), 2),
                "tokens_seen": tokens,
                # This attempt's rate and steps: what the machine does now.
                "tokens_per_s": round((tokens - self.tokens_at_start) / session, 1)
                if session > 0
                else 0.0,
            }
            done = state.global_step - self.first_step
            if done > 0:
                point["remaining_s"] = round(session / done * (total - state.global_step), 1)
            if session > 0:
                # Share of this attempt's time not spent waiting for batches.
                point["data_efficiency"] = round(max(0.0, 1 - self.data_wait_s / session), 3)
            for key in ("loss", "eval_loss", "learning_rate", "grad_norm"):
                if key in logs:
                    point[key] = float(logs[key])
            if gpu is not None:
                point.update(gpu.sample())
            if "eval_loss" in logs:
                self.last_eval = float(logs["eval_loss"])
            reporter.metrics(point)
            for code, message in self.watch.observe(point):
                reporter.alert(code, message)

        def on_save(self, args, state, control, **kwargs):
            path = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            best = self.last_eval is not None and self.last_eval < self.best_eval
            if best:
                self.best_eval = self.last_eval
            reporter.checkpoint(path, state.global_step, self.last_eval, best)

        def on_step_end(self, args, state, control, **kwargs):
            if reporter.should_stop():
                # Save where we are, then end: a stopped run keeps a usable adapter.
                control.should_save = True
                control.should_training_stop = True

    return Events()


def default_speedups(cuda: bool) -> dict:
    """What is on when the job does not say, where bench/bench_training_engine.py measured that
    it pays (bench/results): the label-only loss and length grouping on a CPU (not yet measured
    on a GPU, where the library's own path stays); bfloat16 where the hardware computes it
    natively, a GPU that supports it or a CPU with AMX tiles."""
    import torch

    if cuda:
        bf16 = torch.cuda.is_bf16_supported()
    else:
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        bf16 = bool(amx and amx())
    return {"label_only_loss": not cuda, "group_by_length": not cuda, "bf16": bf16}


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


class OutOfGpuMemory(RuntimeError):
    pass


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "CUDA out of memory" in str(exc)


def _last_checkpoint(output_dir: str) -> str:
    from transformers.trainer_utils import get_last_checkpoint

    return (get_last_checkpoint(output_dir) or "") if Path(output_dir).is_dir() else ""


def train(spec: JobSpec, reporter: Reporter) -> Result:
    """Fine-tune as the spec says; events go to ``reporter``.

    1. Refuse QLoRA without CUDA before loading anything.
    2. Tokenize train/test with the model's chat template, labels on assistant tokens only
       (train: at most max_examples of it, a sample seeded with the run's seed).
    3. Load the model, wrap it with LoRA (peft) unless full fine-tuning.
    4. Train with transformers' Trainer, seeded; callbacks report metrics, checkpoints, stops.
       Out of GPU memory: halve the per-device batch, double gradient accumulation (the
       effective batch, and so the step count, stays the same) and go on from the last
       checkpoint; at batch size 1 there is nothing left to halve and the run fails.
    5. Save the adapter (or the model) with the tokenizer; return what happened.
    """
    import torch

    hp = spec.hyperparameters
    if hp.method == "qlora" and not torch.cuda.is_available():
        raise QLoRANeedsCuda("QLoRA needs an NVIDIA GPU: choose LoRA on this machine, or a GPU.")

    from transformers import AutoTokenizer, set_seed

    started = time.monotonic()
    set_seed(spec.seed)
    model_dir = _model_dir(spec)
    reporter.log(f"Loading tokenizer and model from {model_dir}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    records = read_records(spec.train_file)
    chosen = subset(records, hp.max_examples, spec.seed)
    if len(chosen) < len(records):
        reporter.log(
            f"Training on {len(chosen)} of the {len(records)} training examples (a quick run; "
            "the same ones on every attempt)"
        )
    train_set = tokenize(tokenizer, chosen, hp.max_seq_length)
    test_set = (
        tokenize(tokenizer, read_records(spec.test_file), hp.max_seq_length)
        if spec.test_file
        else None
    )
    reporter.log(
        f"Loaded {len(train_set.examples)} training examples"
        + (f" and {len(test_set.examples)} test examples" if test_set else "")
    )
    if train_set.truncated:
        reporter.log(
            f"{train_set.truncated} examples were longer than {hp.max_seq_length} tokens and were truncated"
        )
    if train_set.dropped:
        reporter.log(
            f"{train_set.dropped} examples had no assistant tokens within the length limit and were left out"
        )
    if not train_set.examples:
        raise ValueError(
            "No training example is left after tokenization: raise max_seq_length or check the data."
        )
    risk = overfitting_risk(len(train_set.examples), hp.epochs) if hp.max_steps <= 0 else None
    if risk:
        reporter.alert("overfitting_risk", risk)

    resume_from = spec.resume_from or None
    attempt_started = started
    while True:
        try:
            trainer, events, output = _attempt(
                spec,
                hp,
                model_dir,
                tokenizer,
                train_set,
                test_set,
                reporter,
                attempt_started,
                resume_from,
            )
            break
        except Exception as exc:
            if not _is_oom(exc):
                raise
            trainer = None  # drop the failed attempt's model and optimizer before retrying
            import gc

            gc.collect()
            torch.cuda.empty_cache()
            if hp.batch_size == 1:
                raise OutOfGpuMemory(
                    "The GPU ran out of memory even at batch size 1. Choose QLoRA, a smaller "
                    "model, a shorter maximum sequence length, or a GPU with more memory."
                ) from exc
            hp = replace(
                hp,
                batch_size=hp.batch_size // 2,
                gradient_accumulation=hp.gradient_accumulation * 2,
            )
            resume_from = _last_checkpoint(spec.output_dir) or None
            if resume_from:  # the checkpoint holds the time trained up to it
                attempt_started = time.monotonic()
            reporter.log(
                f"CUDA out of memory: retrying with batch size {hp.batch_size} and gradient "
                f"accumulation {hp.gradient_accumulation} (same effective batch), "
                + (f"from {Path(resume_from).name}" if resume_from else "from the start")
            )
            reporter.alert(
                "oom_retry",
                f"Out of GPU memory: batch size halved to {hp.batch_size}, gradient accumulation "
                f"doubled to {hp.gradient_accumulation}.",
            )

    stopped = trainer.state.global_step < trainer.state.max_steps
    adapter_dir = Path(spec.output_dir) / "adapter"
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    # Wall time in all (a resumed run's includes the time before its checkpoint); GPU time is
    # this stretch's alone: the stretches before were billed when they ended.
    wall = events.elapsed()
    stretch = time.monotonic() - started
    reporter.log(
        ("Stopped" if stopped else "Finished")
        + f" at step {trainer.state.global_step}; adapter saved to {adapter_dir}"
    )
    return Result(
        adapter_dir=str(adapter_dir),
        steps=trainer.state.global_step,
        tokens_seen=int(trainer.state.num_input_tokens_seen),
        wall_seconds=round(wall, 2),
        gpu_seconds=round(stretch, 2) if torch.cuda.is_available() else 0.0,
        final_metrics={
            k: float(v) for k, v in (output.metrics or {}).items() if isinstance(v, (int, float))
        },
        truncated_examples=train_set.truncated,
        dropped_examples=train_set.dropped,
        stopped_early=stopped,
        batch_size=hp.batch_size,
        gradient_accumulation=hp.gradient_accumulation,
    )


def _attempt(spec, hp, model_dir, tokenizer, train_set, test_set, reporter, started, resume_from):
    """Load the model and train once; returns (trainer, its events callback, TrainOutput)."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForSeq2Seq,
        DataCollatorWithFlattening,
        TrainingArguments,
    )

    cuda = torch.cuda.is_available()
    defaults = default_speedups(cuda)
    # Where the hardware computes it natively (a GPU that has it, a CPU with AMX), compute in
    # bfloat16: the frozen base of LoRA is stored in it too (half the memory; peft keeps the
    # adapter weights in float32), while full fine-tuning keeps float32 weights for the
    # optimizer and only autocasts.
    bf16 = hp.bf16 if hp.bf16 is not None else defaults["bf16"]
    load_kwargs = {}
    if bf16 and not cuda and not hp.packing:
        # PyTorch's CPU flash attention is slow in bfloat16 (its backward took a quarter of a
        # step); the plain matmul-and-softmax attention runs on the same AMX units. (A packed
        # batch keeps the default attention, which separates its examples by position ids.)
        load_kwargs["attn_implementation"] = "eager"
    if hp.method == "qlora":
        from transformers import BitsAndBytesConfig

        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16,
        )
    elif hp.method == "lora" and bf16:
        load_kwargs["dtype"] = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(model_dir, **load_kwargs)
    if hp.method in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if hp.method == "qlora":
            model = prepare_model_for_kbit_training(model)
        if spec.init_adapter:
            # A branch: the earlier version's adapter, trainable, is where this one starts.
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec.init_adapter, is_trainable=True)
            reporter.log("Continuing the earlier version's adapter")
        else:
            config = LoraConfig(
                r=hp.lora_r,
                lora_alpha=hp.lora_alpha,
                lora_dropout=hp.lora_dropout,
                target_modules=list(hp.target_modules),
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, config)
        trainable, total = model.get_nb_trainable_parameters()
        reporter.log(
            f"{hp.method.upper()} config: rank={hp.lora_r}, alpha={hp.lora_alpha}; "
            f"{trainable:,} trainable parameters of {total:,} ({trainable / total:.2%})"
        )

    label_only = (
        hp.label_only_loss if hp.label_only_loss is not None else defaults["label_only_loss"]
    ) and supports_label_only(model)
    by_length = (
        hp.group_by_length if hp.group_by_length is not None else defaults["group_by_length"]
    ) and not hp.packing  # a packed batch has no padding to save
    chosen = [
        what
        for what, on in (
            ("the loss computed on the reply tokens only", label_only),
            ("examples of similar length batched together", by_length),
            ("16-bit (bfloat16) arithmetic, which this processor runs natively", bf16 and not cuda),
        )
        if on
    ]
    if chosen:
        reporter.log("Training faster without changing what is learned: " + "; ".join(chosen))
    per_epoch = math.ceil(len(train_set.examples) / (hp.batch_size * hp.gradient_accumulation))
    total_steps = hp.max_steps if hp.max_steps > 0 else math.ceil(per_epoch * hp.epochs)
    evaluate = bool(test_set and test_set.examples)
    args = TrainingArguments(
        output_dir=spec.output_dir,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation,
        learning_rate=hp.learning_rate,
        num_train_epochs=hp.epochs,
        max_steps=hp.max_steps,
        warmup_steps=hp.warmup_steps,
        weight_decay=hp.weight_decay,
        optim=hp.optimizer,
        logging_steps=hp.logging_steps,
        eval_strategy=("steps" if hp.eval_steps else "epoch") if evaluate else "no",
        eval_steps=hp.eval_steps or None,
        save_strategy="steps" if hp.save_steps else "epoch",
        save_steps=hp.save_steps or 500,
        save_total_limit=hp.save_total_limit,
        seed=spec.seed,
        data_seed=spec.seed,
        bf16=bf16,
        report_to=[],
        use_cpu=not cuda,
        remove_unused_columns=False,
        disable_tqdm=True,
        # Batches of examples of similar length (seeded): less padding to compute.
        train_sampling_strategy="group_by_length" if by_length else "random",
        # Tokens trained on, kept in the trainer's state (so in every checkpoint): padding is not
        # counted; a packed batch has none (and no attention mask to count it by).
        include_num_input_tokens_seen="all" if hp.packing else "non_padding",
    )
    if hp.packing:
        # Padding-free packing: the batch becomes one row with position ids restarting at each
        # example, from which transformers builds a block-diagonal causal mask. That mask is
        # only built when no KV cache exists: Trainer turns use_cache off already (its
        # args.use_cache), and we say so here too rather than depend on that default.
        model.config.use_cache = False
        collator = DataCollatorWithFlattening()
    else:
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    events = _callback(reporter, started, total_steps, gpu=gpu_probe())
    trainer = trainer_class(label_only, clock=events)(
        model=model,
        args=args,
        train_dataset=train_set.examples,
        eval_dataset=test_set.examples if evaluate else None,
        data_collator=collator,
        callbacks=[events],
    )
    reporter.log(
        "Training started" if not resume_from else f"Training resumed from {Path(resume_from).name}"
    )
    output = trainer.train(resume_from_checkpoint=resume_from)
    return trainer, events, output
