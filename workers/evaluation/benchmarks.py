"""Standard multiple-choice benchmarks (docs/PRODUCT.md 5.6): HellaSwag, an MMLU subset, TruthfulQA MC1.

Their data comes from the Hugging Face Hub through huggingface_hub (one Parquet file each,
cached); where the Hub cannot be reached the benchmark reports why instead of a score. Each
item is scored the way lm-evaluation-harness scores multiple choice: the summed log-probability
of each choice as a continuation of the context, the highest one being the model's answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    context: str
    choices: list[str]
    answer: int


def _hellaswag(row) -> Item:
    return Item(row["ctx"], [" " + e for e in row["endings"]], int(row["label"]))


def _mmlu(row) -> Item:
    letters = "ABCD"
    lines = [row["question"], *(f"{letters[i]}. {c}" for i, c in enumerate(row["choices"]))]
    return Item(
        "\n".join(lines) + "\nAnswer:",
        [f" {letters[i]}" for i in range(len(row["choices"]))],
        int(row["answer"]),
    )


def _truthfulqa(row) -> Item:
    targets = row["mc1_targets"]
    return Item(
        f"Q: {row['question']}\nA:",
        [" " + c for c in targets["choices"]],
        list(targets["labels"]).index(1),
    )


@dataclass(frozen=True)
class Benchmark:
    key: str
    name: str
    repo: str
    file_hint: str  # the Parquet file of the repository whose path contains this
    to_item: Callable


BENCHMARKS = {
    b.key: b
    for b in (
        Benchmark("hellaswag", "HellaSwag", "Rowan/hellaswag", "validation", _hellaswag),
        Benchmark("mmlu", "MMLU (subset)", "cais/mmlu", "all/test", _mmlu),
        Benchmark(
            "truthfulqa",
            "TruthfulQA (MC1)",
            "truthfulqa/truthful_qa",
            "multiple_choice/validation",
            _truthfulqa,
        ),
    )
}


class BenchmarkUnavailable(Exception):
    pass


def load_items(
    benchmark: Benchmark, endpoint: str, token: str, limit: int, seed: int, cache_dir: str
) -> list[Item]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint or None, token=token or None)
    try:
        files = [
            s.rfilename for s in api.dataset_info(benchmark.repo, files_metadata=False).siblings
        ]
        name = next((f for f in files if f.endswith(".parquet") and benchmark.file_hint in f), None)
        if name is None:
            raise BenchmarkUnavailable(
                f"{benchmark.repo} has no Parquet file for {benchmark.file_hint}."
            )
        path = api.hf_hub_download(benchmark.repo, name, repo_type="dataset", cache_dir=cache_dir)
    except BenchmarkUnavailable:
        raise
    except HfHubHTTPError as exc:
        raise BenchmarkUnavailable(
            f"the Hugging Face Hub answered {exc.response.status_code if exc.response is not None else 'an error'} for {benchmark.repo}."
        ) from exc
    except Exception as exc:  # no network, DNS, timeouts
        raise BenchmarkUnavailable(
            f"the Hugging Face Hub could not be reached ({type(exc).__name__})."
        ) from exc
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    random.Random(seed).shuffle(rows)
    return [benchmark.to_item(row) for row in rows[:limit]]


def loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Summed log-probability of ``continuation``'s tokens after ``context``."""
    import torch

    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    start = len(context_ids)
    # A tokenizer may merge across the boundary; score at least the last token.
    start = min(start, len(whole) - 1)
    ids = torch.tensor([whole], device=model.device)
    with torch.inference_mode():
        logprobs = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
    targets = ids[0, 1:]
    picked = logprobs[torch.arange(len(targets)), targets]
    return float(picked[start - 1 :].sum()) if start > 0 else float(picked.sum())


def accuracy(model, tokenizer, items: list[Item]) -> float:
    right = 0
    for item in items:
        scores = [loglikelihood(model, tokenizer, item.context, c) for c in item.choices]
        right += scores.index(max(scores)) == item.answer
    return right / len(items) if items else 0.0
