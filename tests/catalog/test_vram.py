"""The one VRAM formula, against hand-computed values."""

import pytest

from apps.catalog.vram import fit, fit_label, vram_needed_gb


@pytest.mark.parametrize(
    "params, method, expected",
    [
        # 7.25B × 2 bytes = 14.5 GB of weights; × multiple; + 1 GB runtime.
        (7.25, "lora", 30.0),  # 14.5 × 2 + 1
        (7.25, "qlora", 8.2),  # 14.5 × 0.5 + 1 = 8.25 → 8.2 (rounded half to even)
        (7.25, "full", 117.0),  # 14.5 × 8 + 1
        (0.135, "lora", 1.5),  # 0.27 × 2 + 1 = 1.54
        (70.6, "qlora", 71.6),  # 141.2 × 0.5 + 1
    ],
)
def test_it_computes_the_spec_multiples(params, method, expected):
    assert vram_needed_gb(params, method) == expected


def test_fit_keeps_ten_percent_headroom():
    assert fit(7.25, "lora", 40)  # 30 GB ≤ 36
    assert not fit(7.25, "lora", 32)  # 30 > 28.8


@pytest.mark.parametrize(
    "params, method, vram, label",
    [
        (7.25, "lora", 40, "fits"),  # Mistral 7B LoRA on an A100 40GB (docs/PRODUCT.md 3.5)
        (7.25, "lora", 24, "needs QLoRA"),  # on an RTX 4090 (docs/PRODUCT.md 3.5: "requires QLoRA")
        (7.25, "lora", 16, "needs QLoRA"),  # QLoRA 8.2 GB fits a T4's 14.4
        (70.6, "lora", 80, "needs QLoRA"),  # Llama 70B only with QLoRA on 80 GB
        (70.6, "qlora", 48, "does not fit"),
    ],
)
def test_fit_labels(params, method, vram, label):
    assert fit_label(params, method, vram) == label


@pytest.mark.parametrize("params, method", [(0, "lora"), (-1, "lora"), (7, "dora")])
def test_it_refuses_nonsense(params, method):
    with pytest.raises(ValueError):
        vram_needed_gb(params, method)
