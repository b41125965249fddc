"""Chat records to training examples: the model's chat template, loss on assistant tokens only."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

IGNORE = -100  # label value the loss skips

# For base models that ship no chat template: ChatML, which the bundled model also uses.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class Tokenized:
    examples: list[dict]
    truncated: int  # examples cut at max_seq_length (kept while an assistant token remains)
    dropped: int  # examples with no assistant token left, or none to begin with


def read_records(path: str | Path) -> list[list[dict]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f if line.strip()]


def subset(records: list, limit: int, seed: int) -> list:
    """At most ``limit`` records (0: all): the first ``limit`` of the records shuffled with
    ``seed``, kept in file order.

    Shuffled, because a train split keeps the uploaded file's order, which is often sorted
    (by date, by topic), and its first rows alone would teach one corner of the task.
    Seeded, so every attempt of a run (a resume from a checkpoint, a retry after a lost
    worker) trains on the same examples its optimizer state and step count belong to.
    """
    if limit <= 0 or limit >= len(records):
        return records
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return [records[i] for i in sorted(order[:limit])]


def _assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of each assistant reply (with its end marker).

    Each reply's span runs from the end of the conversation rendered up to it with a
    generation prompt, to the end of the conversation rendered through it.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = (
            len(
                tokenizer.apply_chat_template(
                    messages[:k], tokenize=False, add_generation_prompt=True
                )
            )
            if k
            else 0
        )
        end = len(tokenizer.apply_chat_template(messages[: k + 1], tokenize=False))
        spans.append((start, end))
    return text, spans


def tokenize(tokenizer, records: list[list[dict]], max_length: int) -> Tokenized:
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_TEMPLATE
    examples, truncated, dropped = [], 0, 0
    for messages in records:
        text, spans = _assistant_spans(tokenizer, messages)
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        labels = [
            token if any(start <= begin < end for start, end in spans) else IGNORE
            for token, (begin, _) in zip(ids, offsets, strict=True)
        ]
        if len(ids) > max_length:
            ids, labels = ids[:max_length], labels[:max_length]
            truncated += 1
        if all(label == IGNORE for label in labels):
            dropped += 1
            continue
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return Tokenized(examples, truncated, dropped)
