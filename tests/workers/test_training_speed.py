"""The engine's speed-ups learn exactly what the library's own path learns."""

from __future__ import annotations

import pytest

from tests.workers.test_engine import spec_for
from workers.training import ListReporter, train
from workers.training.speed import label_only_loss, supports_label_only


def _batch(tiny_model_dir):
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq

    from tests.tiny_model import SUPPORT
    from workers.training.data import tokenize

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    records = [
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in SUPPORT
    ]
    examples = tokenize(tokenizer, records, 64).examples
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    return collate(examples)  # rows of different lengths: padding and prompts carry no label


def _lora(tiny_model_dir):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(model, config)
    for (
        name,
        weight,
    ) in model.named_parameters():  # B starts at zero: give the adapter a gradient path
        if "lora_B" in name:
            torch.nn.init.normal_(weight, std=0.02)
    return model


@pytest.mark.parametrize("divide_by", [None, 37])
def test_the_label_only_loss_and_its_gradients_are_the_models_own(tiny_model_dir, divide_by):
    import torch

    batch = _batch(tiny_model_dir)
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert labelled < batch["labels"].numel() // 2  # most positions carry no label

    model = _lora(tiny_model_dir)
    model.train()
    kwargs = {} if divide_by is None else {"num_items_in_batch": divide_by}
    reference = model(**batch, **kwargs).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()

    loss = label_only_loss(model, batch, divide_by)
    loss.backward()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert torch.allclose(parameter.grad, expected[name], rtol=1e-4, atol=1e-7), name


def test_training_with_it_gives_the_same_curve(tiny_model_dir, chat_files, tmp_path):
    """Gradient accumulation 2: the loss is divided by the accumulated batch's labels, as the
    library's is."""
    curves = {}
    for label_only in (False, True):
        reporter = ListReporter()
        train(
            spec_for(
                tiny_model_dir,
                chat_files,
                tmp_path / f"label-only-{label_only}",
                max_steps=4,
                save_steps=4,
                eval_steps=2,
                gradient_accumulation=2,
                lora_dropout=0.0,
                label_only_loss=label_only,
                group_by_length=False,
                bf16=False,  # exact float32 arithmetic, so equal to 1e-4
            ),
            reporter,
        )
        curves[label_only] = [
            (p.get("loss"), p.get("eval_loss")) for p in reporter.points if "step" in p
        ]
        assert any("reply tokens only" in line for line in reporter.logs) == label_only
    flat = {k: [x for pair in v for x in pair if x is not None] for k, v in curves.items()}
    assert len(flat[True]) >= 6
    assert flat[True] == pytest.approx(flat[False], rel=1e-4)


def test_grouping_by_length_changes_the_order_not_what_is_seen(
    tiny_model_dir, chat_files, tmp_path
):
    """One epoch either way trains on every example once: the same tokens."""
    seen = {}
    for grouped in (False, True):
        result = train(
            spec_for(
                tiny_model_dir,
                chat_files,
                tmp_path / f"grouped-{grouped}",
                max_steps=-1,
                epochs=1,
                save_steps=0,
                eval_steps=0,
                group_by_length=grouped,
            ),
            ListReporter(),
        )
        seen[grouped] = result.tokens_seen
    assert seen[True] == seen[False] > 0


def test_bfloat16_learns_what_float32_learns(tiny_model_dir, chat_files, tmp_path):
    """Mixed precision, as on a GPU: the same curve to bfloat16's precision, and the adapter
    it saves is float32."""
    from safetensors.torch import load_file

    curves, adapters = {}, {}
    for bf16 in (False, True):
        reporter = ListReporter()
        result = train(
            spec_for(
                tiny_model_dir,
                chat_files,
                tmp_path / f"bf16-{bf16}",
                max_steps=6,
                save_steps=6,
                eval_steps=3,
                lora_dropout=0.0,
                group_by_length=False,
                bf16=bf16,
            ),
            reporter,
        )
        curves[bf16] = [p["loss"] for p in reporter.points if "loss" in p] + [
            p["eval_loss"] for p in reporter.points if "eval_loss" in p
        ]
        adapters[bf16] = load_file(f"{result.adapter_dir}/adapter_model.safetensors")
    assert len(curves[True]) == len(curves[False]) >= 8
    assert curves[True] == pytest.approx(curves[False], rel=0.002)
    assert curves[True][5] < curves[True][0]  # and it learns
    assert {str(w.dtype) for w in adapters[True].values()} == {"torch.float32"}


def test_a_head_with_scaled_or_capped_logits_keeps_the_librarys_path(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert supports_label_only(model)
    model.config.final_logit_softcapping = 30.0
    assert not supports_label_only(model)
