"""LLM-as-judge through google-genai (docs/PRODUCT.md "LLM-as-Judge Metrics"), structured JSON out.

Each sampled example is one request holding both answers as "Response A" and "Response B",
base and tuned placed in a random (seeded) order so position cannot favour either; the
scores are mapped back. A request that fails or answers off-schema is left out and
counted; when none succeeds, the judge reports why and the quality score goes on without it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError

DIMENSIONS = ("relevance", "coherence", "factuality", "completeness", "tone_match")

PROMPT = """You are an expert evaluator of AI responses.
Rate each of the two responses below on:
1. Relevance (1-5): Does it answer the question?
2. Coherence (1-5): Is it logically structured?
3. Factuality (1-5): Are claims accurate?
4. Completeness (1-5): Does it address all aspects?
5. Tone Match (1-5): Does it match expected tone?
Judge each response on its own merits against the reference; their order means nothing.

Question:
{question}

Response A:
{a}

Response B:
{b}

Reference (for context):
{reference}

Provide scores as JSON for "a" and "b", each with relevance, coherence, factuality,
completeness, tone_match, average and a one-sentence feedback."""


class Rating(BaseModel):
    relevance: int = Field(ge=1, le=5)
    coherence: int = Field(ge=1, le=5)
    factuality: int = Field(ge=1, le=5)
    completeness: int = Field(ge=1, le=5)
    tone_match: int = Field(ge=1, le=5)
    average: float | None = None
    feedback: str = ""


class PairRating(BaseModel):
    a: Rating
    b: Rating


@dataclass(frozen=True)
class JudgeConfig:
    api_key: str
    model: str = "gemini-2.5-flash"
    base_url: str = ""
    timeout_s: int = 20
    sample_size: int = 20
    seed: int = 42


@dataclass
class JudgeResult:
    judged: int
    failed: int
    base: dict  # dimension → mean score, plus "average"
    tuned: dict
    feedback: list[dict] = field(default_factory=list)
    reason: str = ""  # why nothing was judged


class JudgeUnavailable(Exception):
    pass


def _client(config: JudgeConfig):
    from workers.gemini import gemini_client

    return gemini_client(config.api_key, config.base_url, config.timeout_s)


def _rate(client, config: JudgeConfig, question, reference, a, b) -> PairRating:
    from google.genai import types

    response = client.models.generate_content(
        model=config.model,
        contents=PROMPT.format(
            question=question, a=a or "(no answer)", b=b or "(no answer)", reference=reference
        ),
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=PairRating,
            temperature=0.0,
        ),
    )
    if isinstance(response.parsed, PairRating):
        return response.parsed
    return PairRating.model_validate_json(response.text or "")


def _mean(ratings: list[Rating]) -> dict:
    means = {d: round(sum(getattr(r, d) for r in ratings) / len(ratings), 3) for d in DIMENSIONS}
    means["average"] = round(sum(means.values()) / len(DIMENSIONS), 3)
    return means


def judge(rows: list[dict], config: JudgeConfig) -> JudgeResult:
    """``rows``: dicts with input, reference, base, tuned (the evaluation's examples)."""
    rng = random.Random(config.seed)
    sample = rng.sample(rows, min(config.sample_size, len(rows)))
    client = _client(
        config
    )  # referenced for the whole loop: it closes its connection when collected
    base, tuned, feedback, failed, last_error = [], [], [], 0, ""
    for row in sample:
        tuned_first = rng.random() < 0.5
        a, b = (row["tuned"], row["base"]) if tuned_first else (row["base"], row["tuned"])
        try:
            pair = _rate(client, config, row["input"], row["reference"], a, b)
        except (ValidationError, ValueError) as exc:
            failed, last_error = (
                failed + 1,
                f"answers that were not the JSON asked for ({type(exc).__name__})",
            )
            continue
        except Exception as exc:  # API errors, timeouts, connection errors
            failed, last_error = failed + 1, f"{type(exc).__name__}: {str(exc)[:120]}"
            continue
        t, s = (pair.a, pair.b) if tuned_first else (pair.b, pair.a)
        tuned.append(t)
        base.append(s)
        feedback.append(
            {
                "index": row["index"],
                "tuned_first": tuned_first,
                "base": s.feedback,
                "tuned": t.feedback,
            }
        )
    if not tuned:
        return JudgeResult(0, failed, {}, {}, [], reason=f"Gemini could not judge: {last_error}")
    return JudgeResult(len(tuned), failed, _mean(base), _mean(tuned), feedback)
