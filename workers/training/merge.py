"""Two LoRA versions of one base combined into one adapter: peft's ``add_weighted_adapter``.

Methods, as the history page offers them:

- ``linear``: the weighted sum of both versions' weight updates, exactly (peft's "cat": the
  new adapter stacks both, so its rank is the sum of theirs). peft's own "linear" averages the A
  and B matrices separately, which its documentation calls a rough approximation.
- ``ties``: TIES-merging (trim each update to its largest ``density`` share, elect each
  weight's sign by total magnitude, average what agrees).
- ``dare``: DARE (drop a random 1 - ``density`` of each update, rescale the rest, add).

TIES and DARE need adapters of one rank; with different ranks their SVD variants are used,
at the larger rank. DARE is random: seeded, so the same merge gives the same adapter.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

METHODS = {
    # ours: (same rank, different ranks)
    "linear": ("cat", "cat"),
    "ties": ("ties", "ties_svd"),
    "dare": ("dare_linear", "dare_linear_svd"),
}


@dataclass
class MergeResult:
    adapter_dir: str
    rank: int
    combination: str  # peft's combination_type
    seconds: float


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
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if method not in METHODS:
        raise MergeRefused(f"Unknown merge method {method!r}.")
    if len(adapters) != len(weights) or len(adapters) < 2:
        raise MergeRefused("A merge takes two or more adapters, each with a weight.")
    configs = check(adapters)
    started = time.monotonic()
    ranks = {int(c.get("r", 0)) for c in configs}
    same_rank = len(ranks) == 1
    combination = METHODS[method][0 if same_rank else 1]

    torch.manual_seed(seed)  # DARE's random drops
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    names = [f"v{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(base, adapters[0], adapter_name=names[0])
    for name, folder in zip(names[1:], adapters[1:], strict=True):
        model.load_adapter(folder, adapter_name=name)
    options = {}
    if method in ("ties", "dare"):
        options["density"] = density
    if combination.endswith("svd"):
        options["svd_rank"] = max(ranks)
    model.add_weighted_adapter(
        names, list(weights), "merged", combination_type=combination, **options
    )
    for name in names:
        model.delete_adapter(name)

    out = Path(output_dir)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), selected_adapters=["merged"])
    # peft saves an adapter not named "default" in a folder of its name.
    saved = staging / "merged" if (staging / "merged").is_dir() else staging
    for item in Path(adapters[0]).iterdir():  # the tokenizer and chat template
        if item.is_file() and not item.name.startswith(("adapter_", "README")):
            shutil.copy2(item, saved / item.name)
    shutil.rmtree(out, ignore_errors=True)
    saved.rename(out)
    shutil.rmtree(staging, ignore_errors=True)
    rank = int(json.loads((out / "adapter_config.json").read_text())["r"])
    return MergeResult(str(out), rank, combination, time.monotonic() - started)
