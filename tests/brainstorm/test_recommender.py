"""The offline recommender follows the spec's decision tree and never recommends what cannot fit."""

import pytest

from apps.brainstorm.recommender import (
    GpuEntry,
    ModelEntry,
    Recommendation,
    Request,
    decide,
    epochs_for,
    learning_rate,
    validate,
)
from apps.catalog.seed import HARDWARE, MODELS

CATALOG = [
    ModelEntry(m["slug"], m["name"], m["params_billions"], m["kind"], m.get("bundled", False))
    for m in MODELS
]
GPUS = [
    GpuEntry(h["slug"], h["name"], h["vram_gb"], float(h["hourly_price"]), h.get("is_cpu", False))
    for h in HARDWARE
]


def test_the_spec_conversation_gets_mistral_on_an_a100():
    rec = decide(
        Request("fine-tune a model for customer support replies", 1000, "accuracy", "a100-40gb"),
        CATALOG,
        GPUS,
    )
    assert (rec.base_model, rec.method, rec.hardware) == (
        "mistral-7b-instruct",
        "lora",
        "a100-40gb",
    )
    assert (
        rec.learning_rate == 5e-4 and rec.epochs == 3 and rec.lora_r == 8 and rec.lora_alpha == 16
    )
    assert rec.batch_size == 8 and rec.questions == []
    assert any("instruction following" in r for r in rec.reasons)


def test_missing_answers_become_clarifying_questions():
    rec = decide(Request("a bot for our docs"), CATALOG, GPUS)
    assert len(rec.questions) == 3
    assert rec.hardware == "cpu" and rec.base_model == "smollm2-135m-instruct"


def test_a_small_gpu_gets_phi3_with_qlora():
    rec = decide(Request("summaries", 5000, "cost", "t4"), CATALOG, GPUS)
    assert (rec.base_model, rec.method) == ("phi-3-mini-4k-instruct", "qlora")


def test_a_huge_dataset_gets_the_70b_model_made_to_fit():
    rec = decide(Request("legal answers", 200_000, "accuracy", "a100-80gb"), CATALOG, GPUS)
    assert rec.base_model == "llama-3.1-70b-instruct"
    assert rec.method == "qlora"  # LoRA needs 283 GB: the validator switched
    assert any("switched to QLoRA" in r for r in rec.risks)
    assert rec.learning_rate == 1e-4 and rec.epochs == 1


def test_support_on_a_4090_needs_qlora():
    rec = decide(Request("customer support", 2000, "cost", "rtx-4090"), CATALOG, GPUS)
    assert (rec.base_model, rec.method) == ("mistral-7b-instruct", "qlora")


@pytest.mark.parametrize(
    "examples, method, lr",
    [
        (500, "lora", 5e-4),
        (500, "full", 1e-4),
        (5000, "full", 5e-5),
        (50_000, "lora", 2e-4),
        (500_000, "full", 1e-5),
    ],
)
def test_learning_rates_follow_the_spec_table(examples, method, lr):
    assert learning_rate(examples, method) == lr


@pytest.mark.parametrize("examples, epochs", [(300, 5), (1247, 3), (20_000, 2), (150_000, 1)])
def test_epochs_follow_the_spec_table(examples, epochs):
    assert epochs_for(examples) == epochs


def test_a_recommendation_that_cannot_fit_is_moved_to_a_gpu_where_it_does():
    rec = Recommendation("llama-3.1-70b-instruct", "lora", "t4", 8, 16, ["q_proj"], 5e-4, 4, 2, 3)
    rec = validate(rec, CATALOG, GPUS)
    assert rec.method == "qlora" and rec.hardware in ("a100-80gb", "h100")


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError):
        validate(Recommendation("gpt-9", "lora", "t4", 8, 16, [], 5e-4, 4, 2, 3), CATALOG, GPUS)
