"""The evaluation engine on the tiny random model: base vs tuned, files, and the bad inputs."""

import json

import pytest

from workers.evaluation import EvalSpec, EvaluationError, evaluate
from workers.training import Hyperparameters, JobSpec, ListReporter, ModelSource, train


class Stages:
    def __init__(self):
        self.stages, self.logs = [], []

    def stage(self, name, progress):
        self.stages.append((name, progress))

    def log(self, message):
        self.logs.append(message)


@pytest.fixture
def adapter(tiny_model_dir, chat_files, tmp_path):
    spec = JobSpec(
        ModelSource("path", str(tiny_model_dir)),
        chat_files[0],
        str(tmp_path / "run"),
        hyperparameters=Hyperparameters(
            batch_size=4, max_steps=30, learning_rate=2e-2, save_steps=30, lora_r=16, lora_alpha=32
        ),
    )
    return train(spec, ListReporter()).adapter_dir


def test_base_and_tuned_are_scored_and_written(tiny_model_dir, chat_files, adapter, tmp_path):
    stages = Stages()
    out = tmp_path / "eval"
    result = evaluate(
        EvalSpec(ModelSource("path", str(tiny_model_dir)), chat_files[1], str(out), adapter),
        stages,
    )
    assert result.examples == 2 and result.tuned is not None
    # 30 steps on these answers: the tuned model predicts the references better than chance weights
    assert result.tuned["perplexity"] < result.base["perplexity"]
    progress = [p for _, p in stages.stages]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert any("tuned model" in name for name, _ in stages.stages)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["tuned_quality"]) >= {"score", "gate", "note", "parts"}
    rows = json.loads((out / "examples-comparison.json").read_text())
    assert len(rows) == 2 and {"input", "reference", "base", "tuned", "tuned_f1"} <= set(rows[0])
    assert any("Only 2 test examples" in a for a in result.alerts)


def test_the_base_model_alone(tiny_model_dir, chat_files, tmp_path):
    result = evaluate(
        EvalSpec(ModelSource("path", str(tiny_model_dir)), chat_files[1], str(tmp_path)), Stages()
    )
    assert result.tuned is None and result.base_quality["score"] >= 0


def test_empty_references_are_left_out_and_an_empty_split_is_refused(tiny_model_dir, tmp_path):
    test_file = tmp_path / "test.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
    ]
    test_file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(EvaluationError, match="no example with both a question and a non-empty"):
        evaluate(
            EvalSpec(ModelSource("path", str(tiny_model_dir)), str(test_file), str(tmp_path)),
            Stages(),
        )


def test_a_deleted_adapter_is_a_clear_error(tiny_model_dir, chat_files, tmp_path):
    with pytest.raises(EvaluationError, match="adapter is missing"):
        evaluate(
            EvalSpec(
                ModelSource("path", str(tiny_model_dir)),
                chat_files[1],
                str(tmp_path),
                adapter_dir=str(tmp_path / "gone"),
            ),
            Stages(),
        )
    with pytest.raises(EvaluationError, match="no test split"):
        evaluate(
            EvalSpec(
                ModelSource("path", str(tiny_model_dir)), str(tmp_path / "x.jsonl"), str(tmp_path)
            ),
            Stages(),
        )


def test_a_fully_fine_tuned_model_is_evaluated_against_its_base(
    tiny_model_dir, chat_files, tmp_path
):
    spec = JobSpec(
        ModelSource("path", str(tiny_model_dir)),
        chat_files[0],
        str(tmp_path / "run"),
        hyperparameters=Hyperparameters(
            method="full", batch_size=4, max_steps=20, learning_rate=2e-3, save_steps=20
        ),
    )
    tuned_dir = train(spec, ListReporter()).adapter_dir  # a whole model, not an adapter
    result = evaluate(
        EvalSpec(
            ModelSource("path", str(tiny_model_dir)), chat_files[1], str(tmp_path / "e"), tuned_dir
        ),
        Stages(),
    )
    assert result.tuned is not None
    assert result.tuned["perplexity"] < result.base["perplexity"]


def test_progress_moves_within_a_batch_and_says_what_is_done(
    tiny_model_dir, chat_files, adapter, tmp_path, monkeypatch
):
    """One batch of long answers took minutes at "Loading the base model… 0%": the page must
    name the step it is on, and progress must move token by token, not only when a batch ends."""
    from workers.evaluation import run

    monkeypatch.setattr(run, "PROGRESS_EVERY_S", 0.0, raising=False)  # every token
    stages = Stages()
    evaluate(
        EvalSpec(
            ModelSource("path", str(tiny_model_dir)),
            chat_files[1],
            str(tmp_path / "eval"),
            adapter,
            batch_size=8,  # both examples in one batch
        ),
        stages,
    )
    names = [name for name, _ in stages.stages]
    assert names[0] == "Loading the base model"
    assert names[1] == "Answering 0/2 test prompts with the base model"
    base = [p for name, p in stages.stages if name.endswith("with the base model")]
    # Inside the one batch (before any answer is complete) it moved more than once.
    within = [
        p for name, p in stages.stages if name == "Answering 0/2 test prompts with the base model"
    ]
    assert len({p for p in within if 0 < p < 0.45}) >= 2
    assert max(base) == pytest.approx(0.45)  # half of the 90% for generation, both sides
    assert any(name.startswith("Answering 2/2 test prompts with the tuned model") for name in names)
    progress = [p for _, p in stages.stages]
    assert progress == sorted(progress) and progress[-1] == 1.0
