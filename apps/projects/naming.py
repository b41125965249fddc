"""Names for projects made from a sentence the user typed."""

from __future__ import annotations

import re

_FILLER = {
    "i",
    "want",
    "to",
    "a",
    "an",
    "the",
    "model",
    "that",
    "we",
    "need",
    "would",
    "like",
    "for",
    "fine-tune",
    "finetune",
    "tune",
    "train",
    "my",
    "our",
}


def name_from_goal(goal: str, existing: set[str], max_words: int = 5) -> str:
    """A short title from the goal ("I want a model that answers support e-mails" → "Answers support e-mails").

    ``existing`` holds the team's names in lower case; a number is added until the name is free.
    """
    words = [w.strip("'-") for w in re.findall(r"[\w'-]+", goal)]
    words = [w for w in words if w]
    kept = [w for w in words if w.lower() not in _FILLER][:max_words] or ["New project"]
    base = " ".join(kept)[:80].strip()
    base = base[0].upper() + base[1:]
    name, n = base, 2
    while name.lower() in existing:
        name = f"{base} {n}"
        n += 1
    return name
