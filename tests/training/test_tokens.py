"""Average tokens measured with a real tokenizer and chat template, or the stated approximation."""

import json

import pytest

from apps.catalog.models import BaseModel
from apps.training.tokens import average_tokens, measure

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_tokenizer_dir(tmp_path):
    """A real (tiny) tokenizer with a chat template, built offline from a word-level vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<s>": 1, "hello": 2, "world": 3, "user": 4, "assistant": 5}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", bos_token="<s>")
    tok.chat_template = "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} {% endfor %}"
    tok.save_pretrained(tmp_path / "tok")
    return tmp_path / "tok"


def test_it_counts_with_the_chat_template(tmp_path, tiny_tokenizer_dir):
    train = tmp_path / "train.jsonl"
    rows = [
        [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hello world"}]
    ] * 3
    train.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    # "<s> user hello <s> assistant hello world" = 7 tokens
    assert measure(train, tiny_tokenizer_dir) == (7.0, 3)


def test_without_a_local_tokenizer_the_approximation_is_stated(settings, tmp_path):
    settings.MODEL_CACHE_DIR = tmp_path  # nothing downloaded here

    class Version:
        pk = "v"
        train_count = 10
        report = {"avg_input_tokens": 12, "avg_output_tokens": 30}

    average, source = average_tokens(Version(), BaseModel.objects.get(slug="mistral-7b-instruct"))
    assert average == 42
    assert "4 characters a token" in source and "not on this server" in source
