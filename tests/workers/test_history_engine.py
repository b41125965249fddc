"""The model history's engine parts on a tiny random Llama: a branch trains on from its parent's
adapter, and two adapters merge with peft into what each method promises."""

import json
from pathlib import Path

import pytest
import torch

from workers.training import ListReporter, train
from workers.training.merge import MergeRefused, check, merge_adapters

from .test_engine import spec_for


def _adapter(model_dir, folder: Path, seed: int, r: int = 4) -> str:
    """A LoRA adapter whose B is random (a fresh one is zero, and would change nothing)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"])
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    peft_model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(folder)
    return str(folder)


def _deltas(model_dir, adapter_dir) -> dict:
    """Each adapted layer's weight update (merged weight minus the base's)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    return {
        k: v - before[k]
        for k, v in merged.state_dict().items()
        if ("q_proj" in k or "v_proj" in k) and k.endswith("weight")
    }


def test_a_branch_starts_from_its_parents_adapter(tiny_model_dir, chat_files, tmp_path):
    """With ``init_adapter`` the run trains the parent's adapter on: after one step at the
    smallest learning rate it is still (almost exactly) the parent's; without it, training
    starts from peft's fresh adapter, whose B is zero."""
    parent = _adapter(tiny_model_dir, tmp_path / "parent", seed=1)
    from safetensors.torch import load_file

    parent_weights = load_file(Path(parent, "adapter_model.safetensors"))
    branch = spec_for(
        tiny_model_dir, chat_files, tmp_path / "branch", max_steps=1, learning_rate=1e-7, lora_r=4
    )
    from dataclasses import replace

    result = train(replace(branch, init_adapter=parent), ListReporter())
    continued = load_file(Path(result.adapter_dir, "adapter_model.safetensors"))
    assert continued.keys() == parent_weights.keys()
    for key, value in parent_weights.items():
        assert torch.allclose(continued[key], value, atol=1e-4), key
    fresh = train(
        spec_for(tiny_model_dir, chat_files, tmp_path / "fresh", max_steps=1, learning_rate=1e-7),
        ListReporter(),
    )
    fresh_weights = load_file(Path(fresh.adapter_dir, "adapter_model.safetensors"))
    b = [v for k, v in fresh_weights.items() if "lora_B" in k]
    assert b and all(v.abs().max() < 1e-3 for v in b)


def test_a_spec_refuses_an_adapter_that_is_not_there(tiny_model_dir, chat_files, tmp_path):
    with pytest.raises(ValueError, match="holds no adapter"):
        from dataclasses import replace

        replace(spec_for(tiny_model_dir, chat_files, tmp_path), init_adapter=str(tmp_path))


def test_linear_merge_is_the_weighted_sum_of_both_updates(tiny_model_dir, tmp_path):
    a = _adapter(tiny_model_dir, tmp_path / "a", seed=1)
    b = _adapter(tiny_model_dir, tmp_path / "b", seed=2, r=8)  # ranks may differ
    result = merge_adapters(str(tiny_model_dir), [a, b], [0.3, 0.7], "linear", str(tmp_path / "m"))
    assert result.combination == "cat" and result.rank == 12
    assert Path(result.adapter_dir, "tokenizer_config.json").is_file()
    da, db = _deltas(tiny_model_dir, a), _deltas(tiny_model_dir, b)
    merged = _deltas(tiny_model_dir, result.adapter_dir)
    assert merged.keys() == da.keys() and da
    for key in merged:
        assert torch.allclose(merged[key], 0.3 * da[key] + 0.7 * db[key], atol=1e-5), key


@pytest.mark.parametrize("method, combination", [("ties", "ties"), ("dare", "dare_linear")])
def test_ties_and_dare_merge_adapters_of_one_rank(tiny_model_dir, tmp_path, method, combination):
    a = _adapter(tiny_model_dir, tmp_path / "a", seed=1)
    b = _adapter(tiny_model_dir, tmp_path / "b", seed=2)
    first = merge_adapters(str(tiny_model_dir), [a, b], [0.5, 0.5], method, str(tmp_path / "m1"))
    assert first.combination == combination and first.rank == 4
    merged = _deltas(tiny_model_dir, first.adapter_dir)
    da, db = _deltas(tiny_model_dir, a), _deltas(tiny_model_dir, b)
    for key in merged:  # something of both, not either alone
        assert not torch.allclose(merged[key], da[key]) and not torch.allclose(merged[key], db[key])
    # Seeded: the same merge again is the same adapter (DARE drops at random).
    again = merge_adapters(str(tiny_model_dir), [a, b], [0.5, 0.5], method, str(tmp_path / "m2"))
    again_deltas = _deltas(tiny_model_dir, again.adapter_dir)
    for key in merged:
        assert torch.allclose(merged[key], again_deltas[key], atol=1e-6)


def test_different_ranks_use_the_svd_variant(tiny_model_dir, tmp_path):
    a = _adapter(tiny_model_dir, tmp_path / "a", seed=1, r=4)
    b = _adapter(tiny_model_dir, tmp_path / "b", seed=2, r=8)
    result = merge_adapters(str(tiny_model_dir), [a, b], [0.5, 0.5], "ties", str(tmp_path / "m"))
    assert result.combination == "ties_svd" and result.rank == 8


def test_what_cannot_merge_is_refused_in_words(tiny_model_dir, tmp_path):
    a = _adapter(tiny_model_dir, tmp_path / "a", seed=1)
    dora = tmp_path / "dora"
    dora.mkdir()
    config = json.loads(Path(a, "adapter_config.json").read_text())
    (dora / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(MergeRefused, match="DoRA"):
        check([a, str(dora)])
    with pytest.raises(MergeRefused, match="no readable LoRA adapter"):
        check([a, str(tmp_path / "missing")])
    with pytest.raises(MergeRefused, match="Unknown merge method"):
        merge_adapters(str(tiny_model_dir), [a, a], [0.5, 0.5], "average", str(tmp_path / "m"))
