"""Which columns make the input, which the output, which are ignored.

Generalises "Auto-Detection Logic" in docs/PRODUCT.md 2.2: known column names in any
case and separator first, then the content of the first rows when the names say
nothing. Returns a proposal with a confidence in [0, 1]; below 0.6 the page asks
the user to map by hand. Chat data (OpenAI `messages`, ShareGPT `conversations`)
needs no mapping at all.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from statistics import mean

MANUAL_BELOW = 0.6

# (input names, output name) pairs, best first; names are normalised (lower case, single spaces).
_PAIRS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("instruction", "input"), ("output",)),  # Alpaca
    (("instruction", "context"), ("response",)),  # Dolly
    (("instruction",), ("response", "output", "answer", "completion")),
    (("question",), ("answer", "response")),
    (("prompt",), ("completion", "response", "output", "chosen")),
    (("user message",), ("assistant message",)),
    (("text input",), ("text output",)),
    (("input",), ("output", "target", "label", "response")),
    (("customer message",), ("support reply", "agent reply", "response")),
    (("query",), ("reply", "response", "answer")),
    (("source",), ("target",)),
    (("text",), ("label", "category", "sentiment", "class")),
    (("message",), ("reply", "response")),
    (("request",), ("response",)),
]
_INPUT_WORDS = {
    "instruction",
    "question",
    "prompt",
    "input",
    "query",
    "request",
    "message",
    "user",
    "customer",
    "text",
    "context",
    "source",
    "ask",
    "inquiry",
    "ticket",
    "review",
    "problem",
}
_OUTPUT_WORDS = {
    "response",
    "answer",
    "completion",
    "output",
    "reply",
    "assistant",
    "support",
    "agent",
    "target",
    "label",
    "solution",
    "resolution",
    "category",
    "sentiment",
    "summary",
}
_SYSTEM_NAMES = {"system", "system prompt", "system message", "persona"}
_IGNORE_WORDS = {
    "id",
    "uuid",
    "guid",
    "timestamp",
    "time",
    "date",
    "created at",
    "updated at",
    "created",
    "updated",
    "index",
    "url",
    "link",
    "email",
    "user id",
    "customer id",
    "ticket id",
    "row",
    "idx",
    "source url",
    "lang",
    "language",
}
_DATEISH = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_NUMERIC = re.compile(r"^[-+]?\d+([.,]\d+)?$")


def normalise(name: str) -> str:
    """'customerMessage', 'Customer_Message', 'customer-message ' → 'customer message'."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return re.sub(r"[\s_\-.:/]+", " ", name).strip().lower()


@dataclass
class Proposal:
    kind: str  # "columns" | "messages" | "sharegpt"
    inputs: list[str] = field(default_factory=list)
    output: str | None = None
    system: str | None = None
    ignored: list[str] = field(default_factory=list)
    template: str = ""
    confidence: float = 0.0
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def needs_manual(self) -> bool:
        return self.confidence < MANUAL_BELOW

    def as_dict(self) -> dict:
        return asdict(self)


def default_template(inputs: list[str]) -> str:
    """Several input columns joined with blank lines; empty parts disappear when rendered."""
    return "\n\n".join("{" + name + "}" for name in inputs)


def _column_profile(values: list) -> dict:
    texts = [v for v in values if isinstance(v, str) and v.strip()]
    if not values:
        return {
            "text": 0.0,
            "avg_len": 0.0,
            "unique": 0.0,
            "question": 0.0,
            "dateish": 0.0,
            "numeric": 0.0,
        }
    return {
        "text": len(texts) / len(values),
        "avg_len": mean(len(t) for t in texts) if texts else 0.0,
        "unique": len(set(texts)) / len(texts) if texts else 0.0,
        "question": sum(t.rstrip().endswith("?") for t in texts) / len(texts) if texts else 0.0,
        "dateish": sum(bool(_DATEISH.match(t.strip())) for t in texts) / len(texts)
        if texts
        else 0.0,
        "numeric": sum(bool(_NUMERIC.match(t.strip())) for t in texts) / len(texts)
        if texts
        else 0.0,
    }


def _is_chat(values: list, role_key: str, text_key: str) -> bool:
    lists = [v for v in values if v is not None]
    return bool(lists) and all(
        isinstance(v, list)
        and v
        and all(isinstance(m, dict) and role_key in m and text_key in m for m in v)
        for v in lists
    )


def propose(columns: list[str], rows: list[dict]) -> Proposal:
    """Propose a mapping from the column names and the first rows (plain dicts)."""
    by_norm = {normalise(c): c for c in columns}
    samples = {c: [r.get(c) for r in rows] for c in columns}

    for name in columns:
        norm = normalise(name)
        if norm == "messages" and _is_chat(samples[name], "role", "content"):
            return Proposal(
                "messages",
                inputs=[name],
                ignored=[c for c in columns if c != name],
                confidence=0.98,
                reasons={name: "chat messages with role and content (OpenAI fine-tuning format)"},
            )
        if norm in ("conversations", "conversation") and _is_chat(samples[name], "from", "value"):
            return Proposal(
                "sharegpt",
                inputs=[name],
                ignored=[c for c in columns if c != name],
                confidence=0.97,
                reasons={name: "conversations with from and value (ShareGPT format)"},
            )

    profiles = {c: _column_profile(samples[c]) for c in columns}
    system = next((by_norm[n] for n in _SYSTEM_NAMES if n in by_norm), None)

    def ignorable(col: str) -> str | None:
        norm, p = normalise(col), profiles[col]
        if norm in _IGNORE_WORDS or norm.endswith(" id"):
            return "looks like an identifier or metadata"
        if p["dateish"] > 0.8:
            return "holds dates or timestamps"
        if p["numeric"] > 0.9:
            return "holds numbers only"
        if p["text"] == 0:
            return "is empty in the first rows"
        return None

    # 1. Known names.
    for input_names, output_names in _PAIRS:
        if all(n in by_norm for n in input_names):
            out = next((by_norm[n] for n in output_names if n in by_norm), None)
            if out is None:
                continue
            inputs = [by_norm[n] for n in input_names]
            # Alpaca/Dolly's optional second input only joins when the first is an instruction.
            used = set(inputs) | {out} | ({system} if system else set())
            exact = len(input_names) > 1 or input_names[0] in (
                "instruction",
                "question",
                "prompt",
                "user message",
                "text input",
                "customer message",
            )
            proposal = Proposal(
                "columns",
                inputs=inputs,
                output=out,
                system=system,
                template=default_template(inputs),
                confidence=0.95 if exact else 0.85,
                reasons={
                    **{c: "a known name for the input" for c in inputs},
                    out: "a known name for the output",
                },
            )
            for col in columns:
                if col not in used:
                    proposal.ignored.append(col)
                    proposal.reasons[col] = ignorable(col) or "not needed for training"
            if system:
                proposal.reasons[system] = "a known name for the system prompt"
            return proposal

    # 2. Names with telling words, then content.
    candidates = [c for c in columns if c != system and ignorable(c) is None]

    def score_input(col):
        words = set(normalise(col).split())
        p = profiles[col]
        return (
            2.0 * bool(words & _INPUT_WORDS)
            - 2.0 * bool(words & _OUTPUT_WORDS)
            + p["question"]
            - p["avg_len"] / 2000
        )

    def score_output(col):
        words = set(normalise(col).split())
        p = profiles[col]
        return (
            2.0 * bool(words & _OUTPUT_WORDS)
            - 2.0 * bool(words & _INPUT_WORDS)
            - p["question"]
            + p["avg_len"] / 2000
        )

    if len(candidates) < 2:
        return Proposal(
            "columns",
            inputs=candidates[:1],
            output=None,
            system=system,
            ignored=[c for c in columns if c not in candidates],
            template=default_template(candidates[:1]),
            confidence=0.1,
            reasons={c: ignorable(c) or "the only text column" for c in columns},
        )
    output = max(candidates, key=score_output)
    input_ = max((c for c in candidates if c != output), key=score_input)
    named = sum(
        bool(set(normalise(c).split()) & words)
        for c, words in ((input_, _INPUT_WORDS), (output, _OUTPUT_WORDS))
    )
    # Content alone is a guess; one telling name makes it a decent one.
    confidence = {0: 0.4, 1: 0.65, 2: 0.8}[named]
    if (
        profiles[output]["avg_len"] < profiles[input_]["avg_len"]
        and profiles[input_]["question"] < 0.5
        and named < 2
    ):
        confidence -= 0.1
    proposal = Proposal(
        "columns",
        inputs=[input_],
        output=output,
        system=system,
        template=default_template([input_]),
        confidence=round(confidence, 2),
    )
    proposal.reasons[input_] = (
        "reads like the question or request" if named == 0 else "its name suggests the input"
    )
    proposal.reasons[output] = (
        "reads like the reply (longer, answers the other)"
        if named == 0
        else "its name suggests the output"
    )
    for col in columns:
        if col not in (input_, output, system):
            proposal.ignored.append(col)
            proposal.reasons[col] = ignorable(col) or "not needed for training"
    return proposal
