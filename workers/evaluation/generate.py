"""Answers and reference perplexity from a causal LM with transformers, batched, greedy."""

from __future__ import annotations

import math
from collections.abc import Callable


def generate(
    model,
    tokenizer,
    prompts: list[list[dict]],
    max_new_tokens: int,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy answers to each conversation prompt (messages up to the reply to write)."""
    import torch

    tokenizer.padding_side = "left"  # generation continues from the right end of every row
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in chunk
        ]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        with torch.inference_mode():
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[:, batch["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
        if on_batch:
            on_batch(len(answers))
    return answers


def reference_perplexity(
    model, tokenizer, conversations: list[list[dict]], max_length: int
) -> float:
    """exp(mean negative log-likelihood of the reference replies' tokens), prompts given."""
    import torch

    from workers.training.data import IGNORE, tokenize

    examples = tokenize(tokenizer, conversations, max_length).examples
    total_nll, total_tokens = 0.0, 0
    for example in examples:
        ids = torch.tensor([example["input_ids"]], device=model.device)
        labels = torch.tensor([example["labels"]], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[:, :-1].float()
        targets = labels[:, 1:]
        mask = targets != IGNORE
        nll = torch.nn.functional.cross_entropy(logits[mask], targets[mask], reduction="sum").item()
        total_nll += nll
        total_tokens += int(mask.sum())
    return math.exp(total_nll / total_tokens) if total_tokens else float("nan")
