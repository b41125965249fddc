"""The bundled SmolLM2 converts once, caches as safetensors, and answers like an instruct model."""

import pytest
from django.conf import settings

from workers.models.bundled import (
    BUNDLED_MODEL_ID,
    bundled_gguf_path,
    ensure_bundled_model,
    is_cached,
)

pytestmark = pytest.mark.slow


def test_the_gguf_ships_with_the_package():
    path = bundled_gguf_path()
    assert path.name.endswith(".gguf")
    assert path.stat().st_size > 50_000_000


def test_it_caches_a_float_copy_that_answers_sensibly():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = ensure_bundled_model(settings.MODEL_CACHE_DIR)
    assert path.name == BUNDLED_MODEL_ID
    assert is_cached(settings.MODEL_CACHE_DIR)
    assert (path / "model.safetensors").exists()
    # A second call finds the cache and converts nothing.
    assert (
        ensure_bundled_model(settings.MODEL_CACHE_DIR, log=lambda _: pytest.fail("converted twice"))
        == path
    )

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_a_missing_cache_dir_is_created(tmp_path, monkeypatch):
    # Only the lock-and-marker logic: point at a cache whose marker exists.
    target = tmp_path / "models" / BUNDLED_MODEL_ID
    target.mkdir(parents=True)
    (target / "vibeflow-bundled.json").write_text("{}")
    assert ensure_bundled_model(tmp_path / "models") == target
