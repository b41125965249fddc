"""Average tokens per training example, measured with the chosen model's tokenizer when it is here.

The estimate multiplies examples by this figure, so it should come from the real
tokenizer and the real chat template. Tokenizers load from the local model cache
(the bundled model, or a hub model already downloaded); when none is available the
dataset report's character-based approximation is used and the page says so.
"""

from __future__ import annotations

import json
from functools import lru_cache
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

SAMPLE = 500


@lru_cache(maxsize=4)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def local_tokenizer_dir(model) -> Path | None:
    if model.bundled:
        from workers.models.bundled import cached_model_dir, is_cached

        cache_dir = settings.MODEL_CACHE_DIR
        return cached_model_dir(cache_dir) if is_cached(cache_dir) else None
    path = Path(settings.MODEL_CACHE_DIR) / model.source.replace("/", "--")
    return path if (path / "tokenizer_config.json").exists() else None


def measure(train_file: Path, tokenizer_dir: Path, sample: int = SAMPLE) -> tuple[float, int]:
    """(average tokens per example with the chat template, examples measured) over the first ``sample``."""
    tokenizer = _tokenizer(str(tokenizer_dir))
    counts = []
    with open(train_file, encoding="utf-8") as f:
        for line in islice(f, sample):
            messages = json.loads(line)["messages"]
            if tokenizer.chat_template:
                text = tokenizer.apply_chat_template(messages, tokenize=False)
            else:
                text = "\n".join(m["content"] for m in messages)
            counts.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return (sum(counts) / len(counts), len(counts)) if counts else (0.0, 0)


def average_tokens(version, model) -> tuple[float, str]:
    """The figure for the estimate and where it comes from."""
    report = version.report or {}
    approx = (report.get("avg_input_tokens") or 0) + (report.get("avg_output_tokens") or 0)
    directory = local_tokenizer_dir(model)
    if directory is None or not version.train_count:
        return max(
            approx, 1
        ), f"estimated at 4 characters a token: {model.name}'s tokenizer is not on this server"
    key = f"avg-tokens:{version.pk}:{model.slug}"
    cached = cache.get(key)
    if cached is None:
        cached = measure(version.folder / "train.jsonl", directory)
        cache.set(key, cached, 24 * 3600)
    average, counted = cached
    return max(
        average, 1
    ), f"measured with {model.name}'s tokenizer and chat template on {counted} examples"
