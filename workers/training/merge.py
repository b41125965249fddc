"""Two LoRA versions of one base combined into one adapter: peft's ``add_weighted_adapter``.

Methods, as the history page offers them:

- ``linear``: the weighted sum of both versions' weight updates, exactly (peft's "cat": the
  new adapter stacks both, so its rank is the sum of theirs). peft's own "linear" averages the A
  and B matrices separately, which its documentation calls a rough approximation.
- ``ties``: TIES-merging (trim each update to its largest ``density`` share, elect each
  weight's sign by total magnitude, average what agrees).
- ``dare``: DARE (drop a random 1 - ``density`` of each update, rescale the rest, add).

TIES and DARE need adapters of one rank; with different ranks their SVD variants are used,
at the larger rank. A linear merge whose summed rank would pass ``MAX_RANK`` is made by SVD at
the larger rank instead (merges of merges would otherwise grow without end). DARE is random:
seeded, so the same merge gives the same adapter.

Only the adapters' weights are combined, but peft attaches them to a loaded base: float32 where
it fits easily, else bfloat16 (half the memory; the merged adapter is then stored in it), and a
base that would not fit in this machine's free memory is refused with the figures before
anything is loaded (no worker killed for memory).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

METHODS = {
    # ours: (same rank, different ranks)
    "linear": ("cat", "cat"),
    "ties": ("ties", "ties_svd"),
    "dare": ("dare_linear", "dare_linear_svd"),
}
MAX_RANK = 256  # the highest rank a version may have (the configuration form's limit)
# What a version's folder holds besides its adapter that a merge keeps: its tokenizer.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


@dataclass
class MergeResult:
    adapter_dir: str
    rank: int
    combination: str  # peft's combination_type
    seconds: float
    alpha: int = 0
    target_modules: str = ""


class MergeRefused(ValueError):
    """The adapters cannot be combined; the message says why, in the user's words."""


def _config(adapter_dir: str) -> dict:
    try:
        return json.loads(Path(adapter_dir, "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise MergeRefused(f"{adapter_dir} holds no readable LoRA adapter ({exc}).") from None


def check(adapters: list[str]) -> list[dict]:
    """The adapters' configurations, or ``MergeRefused`` when they cannot combine."""
    configs = [_config(a) for a in adapters]
    for config in configs:
        if config.get("peft_type", "LORA") != "LORA":
            raise MergeRefused("Only LoRA adapters can be merged.")
        if config.get("use_dora"):
            raise MergeRefused("DoRA adapters cannot be merged.")
    modules = {type(c.get("target_modules")) for c in configs}
    if len(modules) > 1:
        raise MergeRefused("The versions name their layers differently and cannot be merged.")
    return configs


def merge_adapters(
    model_dir: str,
    adapters: list[str],
    weights: list[float],
    method: str,
    output_dir: str,
    *,
    density: float = 0.5,
    seed: int = 42,
) -> MergeResult:
    """Load the base, both adapters, combine them, save the result (with the first adapter's
    tokenizer) to ``output_dir``."""
    import psutil
    import torch
    from accelerate import init_empty_weights
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM

    if method not in METHODS:
        raise MergeRefused(f"Unknown merge method {method!r}.")
    if len(adapters) != len(weights) or len(adapters) < 2:
        raise MergeRefused("A merge takes two or more adapters, each with a weight.")
    configs = check(adapters)
    started = time.monotonic()
    ranks = [int(c.get("r", 0)) for c in configs]
    combination = METHODS[method][0 if len(set(ranks)) == 1 else 1]
    options = {}
    if combination == "cat" and sum(ranks) > MAX_RANK:
        combination = "svd"
    if method in ("ties", "dare"):
        options["density"] = density
    if combination.endswith("svd"):
        options["svd_rank"] = max(ranks)

    config = AutoConfig.from_pretrained(model_dir)
    with init_empty_weights():  # shapes only, to size the base before loading it
        params = AutoModelForCausalLM.from_config(config).num_parameters()
    free = psutil.virtual_memory().available
    # The merged adapter is stored in the base's dtype: float32 where it fits easily (exact),
    # bfloat16 otherwise (as most published adapters are).
    dtype = torch.float32 if params * 4 < free * 0.5 else torch.bfloat16
    needed = params * (4 if dtype == torch.float32 else 2)
    if needed > free * 0.8:
        raise MergeRefused(
            f"The base model needs {needed / 2**30:.1f} GB of memory to merge on and this "
            f"worker has {free / 2**30:.1f} GB free."
        )
    torch.manual_seed(seed)  # DARE's random drops
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, low_cpu_mem_usage=True)
    names = [f"v{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(base, adapters[0], adapter_name=names[0])
    for name, folder in zip(names[1:], adapters[1:], strict=True):
        model.load_adapter(folder, adapter_name=name)
    model.add_weighted_adapter(
        names, list(weights), "merged", combination_type=combination, **options
    )
    for name in names:
        model.delete_adapter(name)

    out = Path(output_dir)
    staging = out.with_name(f"{out.name}.partial-{uuid.uuid4().hex[:8]}")  # this attempt's own
    try:
        model.save_pretrained(str(staging), selected_adapters=["merged"])
        # peft saves an adapter not named "default" in a folder of its name.
        saved = staging / "merged" if (staging / "merged").is_dir() else staging
        for name in TOKENIZER_FILES:
            source = Path(adapters[0], name)
            if source.is_file():
                shutil.copy2(source, saved / name)
        shutil.rmtree(out, ignore_errors=True)
        saved.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    config = json.loads((out / "adapter_config.json").read_text())
    return MergeResult(
        str(out),
        int(config["r"]),
        combination,
        time.monotonic() - started,
        alpha=int(config.get("lora_alpha") or config["r"]),
        target_modules=_modules(config.get("target_modules")),
    )


def _modules(value) -> str:
    """The adapter's layers as the run records them: "q_proj,v_proj"."""
    if isinstance(value, str):
        return value
    return ",".join(sorted(value or []))
