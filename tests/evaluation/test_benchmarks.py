"""Standard benchmarks: multiple-choice scoring, and their data through the real huggingface_hub
client from a local Hub; a benchmark the Hub does not have is skipped with the reason."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from apps.evaluations.models import EvalStatus
from apps.evaluations.services import queue_for_run
from apps.evaluations.tasks import run_evaluation
from tests.fakes.hf_hub import FakeHub
from workers.evaluation.benchmarks import Item, accuracy, loglikelihood


def parquet(rows) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


HELLASWAG = [
    {
        "ctx": "how do i reset my password",
        "endings": ["go to settings", "where is", "cancel", "team"],
        "label": "0",
    }
    for _ in range(6)
]


@pytest.fixture
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(
        tiny_model_dir
    ).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_loglikelihood_sums_the_continuation_tokens_only(tiny):
    import torch

    model, tokenizer = tiny
    context, continuation = "how do i reset", " my password"
    ids = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    n_context = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    with torch.inference_mode():
        logprobs = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
    by_hand = sum(float(logprobs[i - 1, ids[i]]) for i in range(n_context, len(ids)))
    assert loglikelihood(model, tokenizer, context, continuation) == pytest.approx(
        by_hand, abs=1e-4
    )


def test_accuracy_picks_the_most_likely_choice(tiny):
    model, tokenizer = tiny
    item = Item("how do i reset my", [" password", " invoice"], 0)
    first, second = (loglikelihood(model, tokenizer, item.context, c) for c in item.choices)
    expected = 1.0 if first > second else 0.0
    assert accuracy(model, tokenizer, [item]) == expected
    assert accuracy(model, tokenizer, []) == 0.0


@pytest.mark.django_db
def test_benchmarks_run_from_the_hub_or_say_why_not(login, owner, trained_run, settings):
    with FakeHub() as hub:
        hub.add("Rowan/hellaswag", {"data/validation-00000-of-00001.parquet": parquet(HELLASWAG)})
        settings.HF_ENDPOINT = hub.url
        settings.EVALUATION_BENCHMARK_ITEMS = 4
        evaluation = queue_for_run(trained_run, owner, benchmarks=["hellaswag", "mmlu"])
        assert run_evaluation(str(evaluation.pk)) == EvalStatus.SUCCEEDED
    evaluation.refresh_from_db()
    results = evaluation.result["benchmarks"]
    assert results["hellaswag"]["items"] == 4
    assert 0 <= results["hellaswag"]["base"] <= 1 and 0 <= results["hellaswag"]["tuned"] <= 1
    assert "404" in results["mmlu"]["reason"]  # not on this Hub
    written = json.loads((evaluation.folder / "benchmark-results.json").read_text())
    assert written == results
    page = login(owner).get(reverse("evaluation_detail", args=[evaluation.pk])).content.decode()
    assert "HellaSwag" in page and "Not run: the Hugging Face Hub answered 404" in page


@pytest.mark.django_db
def test_an_unknown_benchmark_is_refused(login, owner, trained_run):
    from apps.evaluations.models import Evaluation

    start = reverse("evaluation_start", args=[trained_run.pk])
    page = login(owner).post(start, {"benchmarks": ["hellaswag", "rm -rf"]}, follow=True)
    assert "Unknown benchmark." in page.content.decode()
    assert not Evaluation.objects.exists()
