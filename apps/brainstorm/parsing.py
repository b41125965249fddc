"""Reading what the user already told the agent, for the offline recommender."""

from __future__ import annotations

import re

_COUNT = re.compile(
    r"(\d[\d,.]*)\s*(k|thousand|m|million)?\+?\s*(?:training\s+)?(?:examples|rows|samples|pairs|conversations|tickets|records)",
    re.I,
)
_GPUS = [
    (re.compile(r"\bh100\b", re.I), "h100"),
    (re.compile(r"\ba100\b[^.,;]*?80\s*gb|80\s*gb\s*a100", re.I), "a100-80gb"),
    (re.compile(r"\ba100\b", re.I), "a100-40gb"),
    (re.compile(r"\bl40s\b", re.I), "l40s"),
    (re.compile(r"\b(rtx\s*)?4090\b", re.I), "rtx-4090"),
    (re.compile(r"\bt4\b", re.I), "t4"),
    (
        re.compile(r"\bno gpu\b|\bcpu\b|\blaptop\b|don'?t have (a|any) gpu|without (a )?gpu", re.I),
        "cpu",
    ),
]
_PRIORITIES = [
    ("accuracy", re.compile(r"accura|quality|best results|precise", re.I)),
    ("speed", re.compile(r"\bspeed\b|\bfast|quick|latency", re.I)),
    ("cost", re.compile(r"\bcost\b|cheap|budget|inexpensive|low price", re.I)),
]


def examples(text: str) -> int | None:
    match = _COUNT.search(text)
    if not match:
        return None
    number = float(match.group(1).replace(",", ""))
    unit = (match.group(2) or "").lower()
    if unit in ("k", "thousand"):
        number *= 1_000
    elif unit in ("m", "million"):
        number *= 1_000_000
    return int(number)


def gpu(text: str) -> str | None:
    for pattern, slug in _GPUS:
        if pattern.search(text):
            return slug
    return None


def priority(text: str) -> str | None:
    for name, pattern in _PRIORITIES:
        if pattern.search(text):
            return name
    return None
