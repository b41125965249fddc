"""A call's prompt tokens, counted with the deployment's own tokenizer before the call leaves
the gateway, against the model's context and against what the shared server holds per call.

A prompt the server cannot take used to reach it anyway: the CPU server's batching loop died on
a burst of long calls ("No requests can be scheduled"), and every team's calls failed after it.
Counting here costs a tokenizer pass (Rust, ``tokenizers``; the chat template rendered as
transformers renders it), run off the event loop when the text is long.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from .errors import ApiError

log = logging.getLogger("vibeflow.gateway")

# Characters past which counting goes to a thread rather than holding the event loop.
INLINE_CHARS = 8_000
# Bytes per cached number: the CPU server keeps its cache in the model's float32.
CACHE_BYTES_PER_VALUE = 4
# Tokens (prompt and answer) one place at a server stands for.
PLACE_TOKENS = 1024


@dataclass(frozen=True)
class ModelLimits:
    tokenizer: object | None  # tokenizers.Tokenizer
    template: object | None  # a compiled jinja2 chat template
    special: dict
    context: int | None
    vocab: int | None
    cache_tokens_per_layer_value: int | None  # layers × kv heads × head dim × 2 (K and V)

    def per_call(self, backend: str) -> int | None:
        """The most tokens (prompt + answer) one call may hold at the shared server."""
        limits = [self.context] if self.context else []
        if backend != "vllm" and self.cache_tokens_per_layer_value:
            budget = settings.INFERENCE_KV_CACHE_GB * 2**30
            per_token = self.cache_tokens_per_layer_value * CACHE_BYTES_PER_VALUE
            # A share of the cache for each call the server runs at once, and one more for a
            # team admitted past the slots (inflight.py), so a full server can still take it.
            limits.append(int(budget / per_token / (settings.INFERENCE_SERVER_SLOTS + 1)))
        if backend != "vllm":
            # On two CPU cores one call of a few thousand tokens slowed every other team's calls
            # several times over (its prefill and its attention share each forward step).
            limits.append(settings.INFERENCE_MAX_CALL_TOKENS)
        return min(limits) if limits else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _template(folder: Path, config: dict):
    source = None
    if (folder / "chat_template.jinja").exists():
        source = (folder / "chat_template.jinja").read_text()
    elif isinstance(config.get("chat_template"), str):
        source = config["chat_template"]
    if not source:
        return None
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # As transformers renders chat templates (apply_chat_template).
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    return env.from_string(source)


def _raise(message):
    raise ValueError(message)


@lru_cache(maxsize=64)
def limits_for(folder: str) -> ModelLimits:
    """What the gateway knows of the model in ``folder`` (a merged model, or an adapter whose
    config names its base). Cached per process: deployed folders do not change."""
    path = Path(folder)
    tokenizer = None
    if (path / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer_config = _read_json(path / "tokenizer_config.json")
    config = _read_json(path / "config.json")
    if not config:  # an adapter: its base model's config, when it is a local folder
        base = _read_json(path / "adapter_config.json").get("base_model_name_or_path") or ""
        config = _read_json(Path(base) / "config.json") if base.startswith("/") else {}
    layers, heads = config.get("num_hidden_layers"), config.get("num_key_value_heads")
    head_dim = config.get("head_dim") or (
        config.get("hidden_size", 0) // max(1, config.get("num_attention_heads") or 1)
    )
    per_value = 2 * layers * heads * head_dim if layers and heads and head_dim else None
    special = {
        name: tokenizer_config.get(name) or ""
        for name in ("bos_token", "eos_token", "pad_token", "unk_token")
        if isinstance(tokenizer_config.get(name) or "", str)
    }
    try:
        template = _template(path, tokenizer_config)
    except Exception:  # a template jinja cannot compile: count without it
        log.warning("chat template unreadable", extra={"folder": folder})
        template = None
    return ModelLimits(
        tokenizer=tokenizer,
        template=template,
        special=special,
        context=config.get("max_position_embeddings"),
        vocab=tokenizer.get_vocab_size() if tokenizer else config.get("vocab_size"),
        cache_tokens_per_layer_value=per_value,
    )


def model_folder(deployment) -> str:
    """Where the deployment's tokenizer is: the merged folder transformers serve loads, or the
    run's adapter (vLLM serves adapters, named not by path)."""
    served = deployment.served_model
    if served.startswith("/") and Path(served, "tokenizer.json").exists():
        return served
    return str(deployment.run.adapter_dir or served)


def count_chat(limits: ModelLimits, messages: list[dict]) -> int:
    if limits.template is not None:
        try:
            text = limits.template.render(
                messages=messages, add_generation_prompt=True, **limits.special
            )
            return len(limits.tokenizer.encode(text, add_special_tokens=False).ids)
        except Exception:  # noqa: BLE001 - a template that needs what we do not pass
            pass
    # No template: each message's text, and a few tokens of framing each (role, separators).
    return sum(count_text(limits, str(m.get("content") or "")) + 5 for m in messages) + 3


def count_text(limits: ModelLimits, text: str) -> int:
    return len(limits.tokenizer.encode(text, add_special_tokens=False).ids)


def _count(limits: ModelLimits, kind: str, body: dict, texts: list[str]) -> int:
    if kind == "chat":
        return count_chat(limits, body["messages"])
    return max((count_text(limits, text) for text in texts), default=0)


def weight(prompt: int | None, body: dict, calls: int) -> int:
    """The places a call takes at its server: one per request sent, and one more for each
    ``PLACE_TOKENS`` it may hold (prompt and answer), so one long call counts as several short
    ones in the server's fair share (inflight.py)."""
    answer = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    per_call = max(1, math.ceil(((prompt or 0) + answer) / PLACE_TOKENS))
    return calls * per_call


async def check(kind: str, body: dict, texts: list[str], deployment) -> int | None:
    """The prompt's tokens, or a 400 when prompt and answer cannot fit; None when the model's
    tokenizer is not available here (then the server's own check applies)."""
    limits = limits_for(model_folder(deployment))
    bias = body.get("logit_bias") or {}
    if limits.vocab and any(int(token) >= limits.vocab for token in bias):
        raise ApiError(
            400,
            f"Invalid value for 'logit_bias': token ids go from 0 to {limits.vocab - 1}.",
            "invalid_value",
            param="logit_bias",
        )
    if limits.tokenizer is None:
        return None
    if sum(len(text) for text in texts) > INLINE_CHARS:
        prompt = await asyncio.get_running_loop().run_in_executor(
            None, _count, limits, kind, body, texts
        )
    else:
        prompt = _count(limits, kind, body, texts)
    answer = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    most = limits.per_call(deployment.backend)
    what = "messages" if kind == "chat" else "prompt"
    if most is not None and prompt + answer > most:
        if limits.context and most == limits.context:
            message = (
                f"This model's maximum context length is {most} tokens. However, you requested "
                f"{prompt + answer} tokens ({prompt} in the {what}, {answer} in the completion). "
                f"Please reduce the length of the {what} or completion."
            )
        else:
            message = (
                f"This call needs up to {prompt + answer} tokens ({prompt} in the {what}, "
                f"{answer} in the completion); the model's shared server takes at most {most} "
                f"per call. Please reduce the length of the {what} or max_tokens."
            )
        raise ApiError(400, message, "context_length_exceeded", param=what)
    return prompt
