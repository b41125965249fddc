"""A merged version as one GGUF file (llama.cpp, Ollama, LM Studio), written with `gguf`, the
writer llama.cpp maintains on PyPI.

What llama.cpp's own converter (convert_hf_to_gguf.py) does for a Llama-architecture model, the
architecture of the bundled model and of most small chat models (Llama, SmolLM, Mistral
without sliding windows):
- the hyperparameters under ``llama.*``; the tokenizer (a byte-level BPE: its tokens, their
  types, the merges, the special ids and the chat template) from the model's own
  tokenizer.json through ``gguf.SpecialVocab``;
- each tensor under its GGUF name (``gguf.get_tensor_name_map``), the query and key
  projections permuted to the rotary layout llama.cpp expects (readers such as transformers
  permute them back); a tied output projection is left out (readers tie it again);
- matrices in float16 or quantised to Q8_0 (``gguf.quants``), norms in float32.
Other architectures are refused with the reason rather than written wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMATS = {"f16": "F16 (half precision, the model as it is)", "q8_0": "Q8_0 (8-bit, half the size)"}
SUPPORTED = {"llama", "mistral"}


class CannotExport(Exception):
    """The model cannot be written as GGUF here; ``str()`` says why, for the user."""


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary layout for a query or key projection (convert_hf_to_gguf's permute)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _byte_level(pre_tokenizer: dict | None) -> bool:
    """Whether the tokenizer splits into bytes the way GPT-2 does (alone or in a sequence)."""
    if not pre_tokenizer:
        return False
    if pre_tokenizer.get("type") == "ByteLevel":
        return True
    return any(_byte_level(p) for p in pre_tokenizer.get("pretokenizers") or [])


def _check_tokenizer(model_dir: Path) -> None:
    path = model_dir / "tokenizer.json"
    raw = json.loads(path.read_text()) if path.is_file() else {}
    if raw.get("model", {}).get("type") != "BPE" or not _byte_level(raw.get("pre_tokenizer")):
        # SentencePiece-style BPE (Llama 2, Mistral: "▁" pieces) is another GGUF vocabulary.
        raise CannotExport(
            "Only byte-level BPE tokenizers (GPT-2 style, as SmolLM's and Llama 3's) can be "
            "written as GGUF here. Download the merged model and convert it with llama.cpp's "
            "convert_hf_to_gguf.py."
        )


def _tokenizer(writer, model_dir: Path, vocab_size: int, pre: str) -> None:
    import gguf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    special = set(tokenizer.all_special_ids) | {
        int(index) for index in (tokenizer.added_tokens_decoder or {})
    }
    tokens, types = [], []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if index in special else gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special_vocab = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    template = model_dir / "chat_template.jinja"
    if template.is_file() and not special_vocab.chat_template:
        special_vocab.chat_template = template.read_text()
    special_vocab.add_to_gguf(writer)


def export(
    model_dir: str | Path,
    out_path: str | Path,
    kind: str = "f16",
    name: str = "",
    on_progress: Callable[[float], None] = lambda share: None,
    tokenizer_pre: str = "default",
) -> Path:
    """Write ``model_dir`` (a merged model: config.json, safetensors, tokenizer.json) as GGUF.
    ``tokenizer_pre``: llama.cpp's name for the model's pre-tokenizer ("smollm" for SmolLM;
    "default", its generic GPT-2 split, for others)."""
    import gguf
    from safetensors import safe_open

    if kind not in FORMATS:
        raise CannotExport(f"Unknown GGUF type {kind!r}; choose one of {', '.join(FORMATS)}.")
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = json.loads((model_dir / "config.json").read_text())
    arch = config.get("model_type")
    if arch not in SUPPORTED:
        raise CannotExport(
            f"GGUF export supports Llama-architecture models here; this one is {arch!r}. "
            "Download the merged model and convert it with llama.cpp's convert_hf_to_gguf.py."
        )
    rope = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or (
        rope if rope.get("rope_type", "default") != "default" else None
    )
    if scaling:
        # Llama 3.1's "llama3" scaling and the like need frequency tables this writer does not
        # make: a file without them would answer worse, silently.
        raise CannotExport(
            "This model scales its rotary positions "
            f"({scaling.get('rope_type') or scaling.get('type')}), which this GGUF export does "
            "not write. Convert the merged model with llama.cpp's convert_hf_to_gguf.py."
        )
    _check_tokenizer(model_dir)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads")
    kv_heads = kv_heads or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    blocks = config["num_hidden_layers"]
    quant = gguf.GGMLQuantizationType.Q8_0 if kind == "q8_0" else gguf.GGMLQuantizationType.F16

    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_suffix(".partial")
    writer = gguf.GGUFWriter(str(partial), "llama")
    writer.add_name(name or model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(blocks)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(float(theta))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_Q8_0 if kind == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
    )
    _tokenizer(writer, model_dir, config["vocab_size"], tokenizer_pre)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise CannotExport("The merged model has no safetensors weights to convert.")
    keys = [(f, k) for f in files for k in safe_open(str(f), "np").keys()]
    for done, (path, key) in enumerate(keys, start=1):
        if key == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue  # tied: readers use the token embeddings
        if key.endswith("rotary_emb.inv_freq"):
            continue
        with safe_open(str(path), "np") as handle:
            data = handle.get_tensor(key).astype(np.float32)
        target = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise CannotExport(f"No GGUF name for the tensor {key}.")
        if key.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif key.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        if data.ndim == 1:  # norms stay in float32, as llama.cpp keeps them
            writer.add_tensor(target, data)
        elif quant == gguf.GGMLQuantizationType.Q8_0:
            writer.add_tensor(target, gguf.quants.quantize(data, quant), raw_dtype=quant)
        else:
            writer.add_tensor(target, data.astype(np.float16))
        on_progress(0.9 * done / len(keys))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out_path)
    on_progress(1.0)
    return out_path


def modelfile(gguf_name: str, chat_template: str, system_prompt: str = "") -> str:
    """An Ollama Modelfile for the GGUF beside it: the chat template in Ollama's own template
    language for ChatML models (SmolLM, Qwen…), the system prompt, and the end-of-turn stop."""
    lines = [f"FROM ./{gguf_name}"]
    if "<|im_start|>" in chat_template:
        lines += [
            'TEMPLATE """{{ if .System }}<|im_start|>system',
            "{{ .System }}<|im_end|>",
            "{{ end }}{{ if .Prompt }}<|im_start|>user",
            "{{ .Prompt }}<|im_end|>",
            "{{ end }}<|im_start|>assistant",
            '{{ .Response }}<|im_end|>"""',
            'PARAMETER stop "<|im_end|>"',
        ]
    if system_prompt:
        escaped = system_prompt.replace('"""', '\\"\\"\\"')
        lines.append(f'SYSTEM """{escaped}"""')
    return "\n".join(lines) + "\n"
