"""One way to make a google-genai client: our timeout, no silent retries, an optional base URL
(tests point it at a local server speaking Gemini's REST shape). Used by the Brainstorm Agent
and the evaluation judge."""

from __future__ import annotations


def gemini_client(api_key: str, base_url: str = "", timeout_s: float = 20):
    from google import genai
    from google.genai import types

    options = types.HttpOptions(
        timeout=int(timeout_s * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
        **({"base_url": base_url} if base_url else {}),
    )
    return genai.Client(api_key=api_key, http_options=options)
