"""What makes a training step cheaper without changing what the model learns.

The loss of a chat fine-tune counts only the assistant's tokens, yet a causal LM computes the
vocabulary projection (hidden size × vocabulary, 576 × 49,152 for the bundled model) and its
softmax at every position of every padded row, then back-propagates through all of them. The
label-only loss runs the decoder, keeps the hidden states of the positions that predict a
label, and projects only those: the same loss, the same gradients, a fraction of the head's
work. It is used for the model types whose head is a plain linear layer (no logit scaling or
soft-capping); any other model takes the library's own path.
"""

from __future__ import annotations

import time

IGNORE = -100

# Architectures whose logits are exactly lm_head(last hidden state).
PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3"})


def causal_lm(model):
    """The transformers CausalLM inside a peft wrapper (its layers carry the LoRA weights)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def supports_label_only(model) -> bool:
    config = causal_lm(model).config
    return (
        config.model_type in PLAIN_HEAD_TYPES
        and getattr(config, "logit_scale", None) is None
        and getattr(config, "final_logit_softcapping", None) is None
    )


def label_only_loss(model, inputs: dict, divide_by):
    """Cross-entropy over the positions that predict a label, summed and divided by
    ``divide_by`` (the Trainer's count of label tokens in the accumulated batch), or averaged
    over this batch's label tokens when it is None: what the model's own loss computes,
    without projecting the positions that carry no label."""
    import torch
    import torch.nn.functional as F

    lm = causal_lm(model)
    labels = inputs["labels"]
    passed = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
    hidden = lm.get_decoder()(**passed, use_cache=False).last_hidden_state
    # Position t predicts token t + 1, as the library's shift does.
    targets = inputs.get("shift_labels")
    if targets is None:
        targets = torch.nn.functional.pad(labels, (0, 1), value=IGNORE)[:, 1:]
    keep = targets != IGNORE
    logits = lm.get_output_embeddings()(hidden[keep])
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    if divide_by is None:
        return loss / keep.sum().clamp(min=1)
    if torch.is_tensor(divide_by):
        divide_by = divide_by.to(loss.device)
    return loss / divide_by


def trainer_class(label_only: bool, clock=None):
    """transformers' Trainer, or one whose training loss is the label-only loss. ``clock``: an
    object whose ``data_wait_s`` gathers the time spent fetching batches (the live panel's
    data-loading efficiency)."""
    base = _label_only_trainer() if label_only else _trainer()
    if clock is None:
        return base

    class TimedTrainer(base):
        def get_batch_samples(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return super().get_batch_samples(*args, **kwargs)
            finally:
                clock.data_wait_s += time.perf_counter() - started

    return TimedTrainer


def _trainer():
    from transformers import Trainer

    return Trainer


def _label_only_trainer():
    from transformers import Trainer

    class LabelOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if (
                return_outputs
                or "labels" not in inputs
                or not model.training
                or self.accelerator.num_processes > 1  # its token averaging is the library's
            ):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # Divided like the library's loss: by the accumulated batch's label count when the
            # model takes it (the Trainer then does not divide by the accumulation steps).
            scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
            return label_only_loss(model, inputs, num_items_in_batch if scaled else None)

    return LabelOnlyTrainer
