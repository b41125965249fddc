"""A version as a plain model directory: base + adapter merged (peft's merge_and_unload)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def is_adapter(version_dir: str | Path) -> bool:
    """LoRA/QLoRA runs leave an adapter; full fine-tuning leaves a whole model."""
    return (Path(version_dir) / "adapter_config.json").is_file()


def package_merged(base_dir: str, version_dir: str, out_dir: str | Path) -> Path:
    """Write base + adapter merged, with the tokenizer, into ``out_dir`` and return it.

    `transformers serve` cannot load a bare adapter folder (it reads config.json and a
    tokenizer), so CPU serving and the "merged" download use this copy. A full fine-tuning
    version is already a whole model and is copied as it is. Written to a temporary folder and
    renamed, so a crash never leaves a half-written model that looks complete.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    if (out / "config.json").is_file():
        return out  # packaged before (a redelivered task, a second endpoint)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if is_adapter(version_dir):
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, version_dir).merge_and_unload()
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer_dir = (
            version_dir if (Path(version_dir) / "tokenizer_config.json").is_file() else base_dir
        )
    else:
        shutil.copytree(version_dir, tmp, dirs_exist_ok=True)
        tokenizer_dir = (
            version_dir if (Path(version_dir) / "tokenizer_config.json").is_file() else base_dir
        )
    if not (tmp / "tokenizer_config.json").is_file():
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
