"""The Brainstorm Agent: Gemini when configured, the offline recommender otherwise.

Every recommendation, whoever made it, goes through ``recommender.validate``
against the catalog, so the agent never recommends something that cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.catalog.models import BaseModel, Hardware
from apps.datasets.models import latest_version
from apps.training.configuration import first_run_plan

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


def sizer_for(project, stated_examples: int | None) -> tuple[recommender.Sizer, bool]:
    """How a CPU recommendation is sized for this project: from its latest ready data (the
    draft made from the recommendation trains on that same version), else from the number of
    examples the user gave at an assumed length. Returns the sizer and whether the data's
    size was assumed. The configuration page's estimate uses the same function."""
    version = latest_version(project) if project is not None else None

    def size(model_slug: str, hardware_slug: str, method: str, epochs: int):
        return first_run_plan(
            version,
            BaseModel.objects.get(slug=model_slug),
            Hardware.objects.get(slug=hardware_slug),
            method,
            epochs,
            examples=stated_examples,
        )

    return size, version is None


def _with_timing(text: str, rec: recommender.Recommendation) -> str:
    return f"{text}\n{rec.timing}" if rec.timing else text


def offline_reply(user_texts: list[str], models, gpus, reason: str = "", project=None) -> Reply:
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
    sizer, assumed_data = sizer_for(project, request.examples)
    rec = recommender.decide(request, models, gpus, sizer, assumed_data)
    model = next(m for m in models if m.slug == rec.base_model)
    text = f"I recommend {model.name} with {rec.method.upper() if rec.method != 'full' else 'full fine-tuning'}."
    if rec.questions:
        text += " (I assumed what you haven't told me yet: " + "; ".join(rec.questions) + ")"
    return Reply(_with_timing(text, rec), rec.as_dict(), source, reason)


def reply(history: list[tuple[str, str]], project=None) -> Reply:
    """The agent's answer to the conversation; ``project`` gives a CPU run's size its data."""
    models, gpus = catalog_entries()
    user_texts = [text for role, text in history if role == "user"]
    if not settings.GEMINI_API_KEY:
        return offline_reply(user_texts, models, gpus, "no Gemini key is configured", project)
    try:
        turn = gemini.ask(history, _catalog_text(models, gpus))
    except gemini.GeminiUnavailable as exc:
        return offline_reply(user_texts, models, gpus, str(exc), project)
    recommendation = None
    text = turn.message
    if turn.recommendation is not None:
        rec = recommender.Recommendation(
            **turn.recommendation.model_dump(), source=f"Gemini ({settings.GEMINI_MODEL})"
        )
        sizer, assumed_data = sizer_for(project, parsing.examples(" ".join(user_texts)))
        try:
            rec = recommender.validate(rec, models, gpus, sizer, assumed_data)
        except ValueError as exc:
            return offline_reply(
                user_texts,
                models,
                gpus,
                f"Gemini recommended something outside the catalog ({exc})",
                project,
            )
        recommendation = rec.as_dict()
        # Times come from the estimate, not from the model's words (its prompt says so too).
        text = _with_timing(text, rec)
    if turn.questions and recommendation is None:
        text += "\n" + "\n".join(f"{i}. {q}" for i, q in enumerate(turn.questions, 1))
    return Reply(text, recommendation, f"gemini:{settings.GEMINI_MODEL}")
