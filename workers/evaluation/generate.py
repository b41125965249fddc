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
    on_progress: Callable[[float, int], None] | None = None,
) -> list[str]:
    """Greedy answers to each conversation prompt (messages up to the reply to write).

    ``on_progress(done, answered)`` is called after every generated token, not only at the end
    of a batch (a batch of long answers on a CPU takes minutes): ``answered`` counts the answers
    complete so far (a row that wrote its end token is complete), ``done`` is the work done in
    examples, fractional within the batch (its share of ``max_new_tokens`` generated, or of its
    rows complete, whichever is further), so it only grows and reaches ``len(prompts)``.
    """
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
        extra = {}
        if on_progress:
            from transformers import StoppingCriteriaList

            extra["stopping_criteria"] = StoppingCriteriaList(
                [
                    _Progress(
                        model,
                        tokenizer,
                        batch["input_ids"].shape[1],
                        max_new_tokens,
                        start,
                        len(chunk),
                        on_progress,
                    )
                ]
            )
        with torch.inference_mode():
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                **extra,
            )
        new = output[:, batch["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
        if on_progress:
            on_progress(float(len(answers)), len(answers))
    return answers


def _end_tokens(model, tokenizer) -> list[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = list(ids) if isinstance(ids, (list, tuple)) else [ids]
    ids.append(tokenizer.eos_token_id)
    return sorted({i for i in ids if i is not None})


class _Progress:
    """A stopping criterion that never stops: generate() calls it after every token, which makes
    it the place to see how far a batch has come."""

    def __init__(self, model, tokenizer, prompt_length, max_new_tokens, before, rows, report):
        self.ends = _end_tokens(model, tokenizer)
        self.prompt_length = prompt_length
        self.max_new_tokens = max_new_tokens
        self.before, self.rows, self.report = before, rows, report

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        new = input_ids[:, self.prompt_length :]
        if self.ends:
            ended = torch.isin(new, torch.tensor(self.ends, device=new.device)).any(dim=1)
            complete = int(ended.sum())
        else:
            complete = 0
        share = max(new.shape[1] / self.max_new_tokens, complete / self.rows)
        self.report(self.before + min(share, 1.0) * self.rows, self.before + complete)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


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
