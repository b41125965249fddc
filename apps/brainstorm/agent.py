"""The Brainstorm Agent: Gemini when configured, the offline recommender otherwise.

Every recommendation, whoever made it, goes through ``recommender.validate``
against the catalog, so the agent never recommends something that cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.catalog.models import BaseModel, Hardware

from . import gemini, parsing, recommender


@dataclass
class Reply:
    text: str
    recommendation: dict | None
    source: str
    fallback_reason: str = ""


def catalog_entries() -> tuple[list[recommender.ModelEntry], list[recommender.GpuEntry]]:
    models = [
        recommender.ModelEntry(m.slug, m.name, m.params_billions, m.kind, m.bundled)
        for m in BaseModel.objects.all()
    ]
    gpus = [
        recommender.GpuEntry(h.slug, h.name, h.vram_gb, float(h.hourly_price), h.is_cpu)
        for h in Hardware.objects.all()
    ]
    return models, gpus


def _catalog_text(models, gpus) -> str:
    lines = [f"model {m.slug}: {m.name}, {m.params_billions}B parameters, {m.kind}" for m in models]
    lines += [f"hardware {g.slug}: {g.name}, {g.vram_gb:g} GB, ${g.hourly_price}/h" for g in gpus]
    return "\n".join(lines)


def offline_reply(user_texts: list[str], models, gpus, reason: str = "") -> Reply:
    said = " ".join(user_texts)
    request = recommender.Request(
        goal=said,
        examples=parsing.examples(said),
        priority=parsing.priority(said),
        gpu=parsing.gpu(said),
    )
    questions = recommender.clarifying_questions(request)
    source = "offline"
    # Ask first while most answers are missing; recommend once the user has answered (or insists).
    if len(questions) >= 2 and len(user_texts) == 1:
        text = "Great! Let me ask a few questions:\n" + "\n".join(
            f"{i}. {q}" for i, q in enumerate(questions, 1)
        )
        return Reply(text, None, source, reason)
    rec = recommender.decide(request, models, gpus)
    model = next(m for m in models if m.slug == rec.base_model)
    text = f"I recommend {model.name} with {rec.method.upper() if rec.method != 'full' else 'full fine-tuning'}."
    if rec.questions:
        text += " (I assumed what you haven't told me yet: " + "; ".join(rec.questions) + ")"
    return Reply(text, rec.as_dict(), source, reason)


def reply(history: list[tuple[str, str]]) -> Reply:
    models, gpus = catalog_entries()
    user_texts = [text for role, text in history if role == "user"]
    if not settings.GEMINI_API_KEY:
        return offline_reply(user_texts, models, gpus, "no Gemini key is configured")
    try:
        turn = gemini.ask(history, _catalog_text(models, gpus))
    except gemini.GeminiUnavailable as exc:
        return offline_reply(user_texts, models, gpus, str(exc))
    recommendation = None
    text = turn.message
    if turn.recommendation is not None:
        rec = recommender.Recommendation(
            **turn.recommendation.model_dump(), source=f"Gemini ({settings.GEMINI_MODEL})"
        )
        try:
            rec = recommender.validate(rec, models, gpus)
        except ValueError as exc:
            return offline_reply(
                user_texts,
                models,
                gpus,
                f"Gemini recommended something outside the catalog ({exc})",
            )
        recommendation = rec.as_dict()
    if turn.questions and recommendation is None:
        text += "\n" + "\n".join(f"{i}. {q}" for i, q in enumerate(turn.questions, 1))
    return Reply(text, recommendation, f"gemini:{settings.GEMINI_MODEL}")
