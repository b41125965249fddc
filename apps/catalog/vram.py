"""How much GPU memory fine-tuning a model needs: one formula, used everywhere.

docs/PRODUCT.md 3.5 ("GPU Memory") gives memory per method as multiples of the model's size in
16-bit weights (2 bytes a parameter): full fine-tuning about 8x (weights,
gradients and Adam's two moments, plus activations), LoRA about 2x (frozen
16-bit weights plus activations and small adapters), QLoRA about 0.5x (4-bit
weights plus the same). A fixed allowance covers the CUDA context and buffers.
"""

from __future__ import annotations

METHODS = ("full", "lora", "qlora")
SIZE_MULTIPLE = {"full": 8.0, "lora": 2.0, "qlora": 0.5}
RUNTIME_OVERHEAD_GB = 1.0


def model_size_gb(params_billions: float, bytes_per_param: float = 2.0) -> float:
    """Size of the weights in GB (10^9 bytes) at the given precision."""
    return params_billions * bytes_per_param


def vram_needed_gb(params_billions: float, method: str, bytes_per_param: float = 2.0) -> float:
    if method not in SIZE_MULTIPLE:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if params_billions <= 0:
        raise ValueError("params_billions must be positive")
    size = model_size_gb(params_billions, bytes_per_param)
    return round(size * SIZE_MULTIPLE[method] + RUNTIME_OVERHEAD_GB, 1)


def fit(params_billions: float, method: str, vram_gb: float, *, headroom: float = 0.9) -> bool:
    """Whether the method fits in ``vram_gb``, keeping 10% free so training does not run at the edge."""
    return vram_needed_gb(params_billions, method) <= vram_gb * headroom


def fit_label(params_billions: float, method: str, vram_gb: float) -> str:
    """ "fits", "needs QLoRA" or "does not fit" for one GPU, as the hardware picker shows it."""
    if fit(params_billions, method, vram_gb):
        return "fits"
    if method != "qlora" and fit(params_billions, "qlora", vram_gb):
        return "needs QLoRA"
    return "does not fit"
