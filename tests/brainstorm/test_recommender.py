"""The offline recommender follows the decision tree of docs/PRODUCT.md 1.3 and never recommends what cannot fit."""

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
from apps.training.estimates import Inputs, first_run

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


def cpu_sizer(examples=1000, avg_tokens=600.0, measured=None):
    """What the Django side passes in, on plain numbers: ~1,000 examples of 600 tokens."""

    def size(model_slug, hardware_slug, method, epochs):
        size.calls.append((model_slug, hardware_slug, method, epochs))
        return first_run(
            Inputs(
                examples=examples,
                avg_tokens_per_example=avg_tokens,
                epochs=epochs,
                params_billions=0.135,
                method=method,
                hourly_price=0.0,
                gpu_slug=hardware_slug,
                measured_tokens_per_second=measured,
                measured_runs=1 if measured else 0,
            )
        )

    size.calls = []
    return size


def test_no_gpu_gets_a_first_run_of_about_ten_minutes_and_the_longer_run_as_an_option():
    rec = decide(Request("customer support replies", 1000, None, "cpu"), CATALOG, GPUS, cpu_sizer())
    # 3 epochs over 1,000 × 600 tokens at the CPU's assumed 458 tokens/s take 3,930 s; one epoch
    # takes 1,310 s, so 600 s is a share of 458 examples, rounded down to 450.
    assert (rec.hardware, rec.epochs, rec.max_examples) == ("cpu", 1, 450)
    quick = 450 * 600 / 458
    assert rec.first_run == pytest.approx(
        {
            "examples": 450,
            "epochs": 1,
            "max_examples": 450,
            "seconds": quick,
            "seconds_low": quick * 0.85,
            "seconds_high": quick * 1.15,
        },
        abs=0.1,  # kept to a tenth of a second
    )
    assert rec.longer_run["epochs"] == 3 and rec.longer_run["max_examples"] == 0
    assert rec.longer_run["seconds"] == pytest.approx(3 * 1000 * 600 / 458, abs=0.1)
    # The words come from those figures (501–678 s, 3,341–4,520 s), as the page shows them.
    assert "a first run of 1 epoch over 450 of the 1,000 examples takes about 8m–11m" in rec.timing
    assert "all 1,000 examples × 3 epochs, takes about 56m–1h 15m" in rec.timing
    assert "usually fits your task better" in rec.timing
    assert "an assumption until your first run here measures it" in rec.timing
    assert not any("in minutes" in r for r in rec.reasons)
    assert not any(r.startswith("3 epochs") for r in rec.reasons)
    assert any(r.startswith("Sized to finish in about 10 minutes") for r in rec.reasons)


def test_a_measured_cpu_is_not_called_an_assumption():
    rec = decide(Request("support", 1000, None, "cpu"), CATALOG, GPUS, cpu_sizer(measured=1000.0))
    # one epoch over all: 600 s at the measured 1,000 tokens/s; the longer run takes 1,800 s
    assert (rec.epochs, rec.max_examples) == (1, 0)
    assert "1 epoch over all 1,000 examples" in rec.timing and "assumption" not in rec.timing


def test_gpu_recommendations_are_not_resized():
    sizer = cpu_sizer()
    rec = decide(Request("customer support", 1000, "accuracy", "a100-40gb"), CATALOG, GPUS, sizer)
    assert sizer.calls == []
    assert (rec.epochs, rec.max_examples, rec.first_run, rec.timing) == (3, 0, None, "")


def test_a_gemini_cpu_recommendation_is_sized_by_validate_too():
    rec = Recommendation(
        "smollm2-135m-instruct", "lora", "cpu", 8, 16, ["q_proj", "v_proj"], 5e-4, 4, 2, 4
    )
    sizer = cpu_sizer()
    rec = validate(rec, CATALOG, GPUS, sizer)
    assert sizer.calls == [("smollm2-135m-instruct", "cpu", "lora", 4)]
    assert (rec.epochs, rec.max_examples) == (1, 450) and rec.longer_run["epochs"] == 4
