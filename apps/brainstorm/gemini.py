"""The Brainstorm Agent's Gemini side, through google-genai, with a structured answer.

``ask`` returns the agent's turn (a message, clarifying questions, and maybe a
recommendation) parsed against a schema, or raises GeminiUnavailable with the
reason, so the caller falls back to the offline recommender and says why.
"""

from __future__ import annotations

from django.conf import settings
from pydantic import BaseModel, Field, ValidationError

SYSTEM_PROMPT = """You are VibeFlow's AI tutor. Your role is to:
1. Ask clarifying questions about the user's LLM fine-tuning goal (how many training examples: 100, 1K, 10K, 100K+;
   priority: speed, accuracy or cost; GPU access) when you do not know them yet.
2. Recommend a base model based on their needs (task, data size, hardware), chosen ONLY from the catalog below.
3. Suggest a training method (full, lora, qlora).
4. Give hyperparameters (LoRA rank and alpha, target modules, learning rate, batch size, gradient accumulation, epochs).
5. Explain your reasoning in plain English, and be honest about trade-offs and risks. If a task is hard, say so.

Decision tree to start from:
- Little GPU memory (under ~20 GB) -> Phi-3 + QLoRA
- Customer service task -> Mistral-7B + LoRA
- Large dataset (100K+) -> Llama-3.1-70B + LoRA
- One GPU, accuracy priority -> Llama-2-13B + QLoRA
- No GPU -> the bundled SmolLM2 135M + LoRA on the CPU

Do not state how long training takes or what it costs: VibeFlow computes both from the user's
data and this machine's speed, and adds them to your answer (on a CPU it also sizes a quick first run).

Answer as JSON matching the schema. Leave "recommendation" null while you still need answers.
Use catalog slugs exactly as written for base_model and hardware."""


class RecommendationSchema(BaseModel):
    base_model: str = Field(description="catalog model slug")
    method: str = Field(description="lora, qlora or full")
    hardware: str = Field(description="catalog hardware slug")
    lora_r: int
    lora_alpha: int
    target_modules: list[str]
    learning_rate: float
    batch_size: int
    gradient_accumulation: int
    epochs: int
    reasons: list[str]
    risks: list[str]


class AgentTurn(BaseModel):
    message: str = Field(description="what to say to the user, plain English")
    questions: list[str] = Field(
        default_factory=list, description="clarifying questions still open"
    )
    recommendation: RecommendationSchema | None = None


class GeminiUnavailable(Exception):
    pass


def _client():
    from workers.gemini import gemini_client

    return gemini_client(
        settings.GEMINI_API_KEY, settings.GEMINI_BASE_URL, settings.GEMINI_TIMEOUT_S
    )


def ask(history: list[tuple[str, str]], catalog_text: str) -> AgentTurn:
    """``history`` is [(role, text)] with roles "user"/"assistant", oldest first."""
    from google.genai import errors, types

    contents = [
        types.Content(role="user" if role == "user" else "model", parts=[types.Part(text=text)])
        for role, text in history
    ]
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT + "\n\nCatalog:\n" + catalog_text,
        response_mime_type="application/json",
        response_schema=AgentTurn,
        temperature=0.2,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    # Keep the client referenced for the whole call: it closes its HTTP connection when collected.
    client = _client()
    try:
        response = client.models.generate_content(
            model=settings.GEMINI_MODEL, contents=contents, config=config
        )
    except errors.APIError as exc:
        raise GeminiUnavailable(f"Gemini answered with an error ({exc.code})") from exc
    except Exception as exc:  # timeouts and connection errors come from httpx underneath
        name = type(exc).__name__
        reason = (
            "Gemini did not answer in time"
            if "Timeout" in name
            else f"Gemini could not be reached ({name})"
        )
        raise GeminiUnavailable(reason) from exc
    parsed = response.parsed
    if isinstance(parsed, AgentTurn):
        return parsed
    try:
        return AgentTurn.model_validate_json(response.text or "")
    except (ValidationError, ValueError) as exc:
        raise GeminiUnavailable("Gemini's answer was not the JSON we asked for") from exc
