"""A tiny random Llama and small chat files: a causal LM for unit tests in milliseconds."""

import json

import pytest

SUPPORT = [
    ("how do i reset my password", "go to settings then security then reset password"),
    ("how do i cancel my plan", "open billing then plan then cancel"),
    ("where is my invoice", "billing then invoices then download"),
    ("can i add a team member", "open team then members then invite"),
    ("how do i export my data", "settings then data then export"),
    ("how do i change my email", "settings then profile then email"),
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama with a ChatML tokenizer, built in milliseconds, saved like a real model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted(
        {w for q, a in SUPPORT for w in (q + " " + a).split()} | {"user", "assistant", "system"}
    )
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.add_special_tokens(
        {"eos_token": "<|im_end|>", "additional_special_tokens": ["<|im_start|>"]}
    )
    from workers.training.data import FALLBACK_TEMPLATE

    tokenizer.chat_template = FALLBACK_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def chat_files(tmp_path):
    def write(name, pairs):
        path = tmp_path / name
        path.write_text(
            "".join(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": q},
                            {"role": "assistant", "content": a},
                        ]
                    }
                )
                + "\n"
                for q, a in pairs
            )
        )
        return str(path)

    return write("train.jsonl", SUPPORT * 4), write("test.jsonl", SUPPORT[:2])
