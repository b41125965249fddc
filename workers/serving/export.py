"""A version as a download: the adapter (or whole model), the tokenizer, and what runs it.

The download runs on someone else's machine, so nothing in it may point at this server (the
folder a run trained from, the trainer's pickled arguments), and its files are written so that
every transformers version requirements.txt allows reads them: transformers 5 saves a
tokenizer_config.json and a config.json that 4.x misreads (see the `_fix_*` functions).
tests/endpoints/test_portable_bundle.py installs requirements.txt in a clean virtualenv, at its
newest and at its oldest versions, and runs inference_example.py.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

# transformers 4.56 is the first to take `dtype=` (inference_example.py passes it); 5.x disables
# itself below torch 2.6 (pip does not see that: torch is only an extra of transformers); peft 0.17
# reads the adapter_config.json of newer peft (it warns about the keys it does not know);
# transformers 5 asks for accelerate 1.1. The upper bounds are the next major versions, which
# have changed file formats before (5.0 did).
REQUIREMENTS = """torch>=2.6,<3
transformers>=4.56,<6
peft>=0.17,<1
accelerate>=1.1
safetensors>=0.4.3
"""

EXAMPLE = '''"""Run the fine-tuned model locally: python inference_example.py "your question"."""

import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = Path(__file__).resolve().parent
BASE_MODEL = "{base}"  # a Hugging Face Hub id or a local folder with the base model


def load():
    if (HERE / "adapter_config.json").is_file():
        from peft import PeftModel

        if not BASE_MODEL:
            sys.exit("Set BASE_MODEL in inference_example.py to a folder with the base model.")
        base = AutoModelForCausalLM.from_pretrained(BASE_MODEL, dtype=torch.float32)
        model = PeftModel.from_pretrained(base, HERE)
    else:
        model = AutoModelForCausalLM.from_pretrained(HERE, dtype=torch.float32)
    tokenizer_dir = HERE if (HERE / "tokenizer_config.json").is_file() else BASE_MODEL
    return model.eval(), AutoTokenizer.from_pretrained(tokenizer_dir)


def main():
    model, tokenizer = load()
    question = " ".join(sys.argv[1:]) or "Hello!"
    inputs = tokenizer.apply_chat_template(
        [{{"role": "user", "content": question}}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=200, do_sample=False)
    print(tokenizer.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True))


if __name__ == "__main__":
    main()
'''

README = """# {title}

Fine-tuned with VibeFlow: {base} + {method} (version {version}).

## Run it with Python

    pip install -r requirements.txt
    python inference_example.py "How do I reset my password?"

requirements.txt allows transformers 4.56 to 5.x, peft 0.17 or newer and torch 2.6 or newer;
VibeFlow's tests run downloads like this one with the oldest and the newest transformers and
peft it allows.
{where_base}
## Ollama / LM Studio

Both run GGUF files. {convert}, then:

- Ollama: write a `Modelfile` with `FROM ./model.gguf` and run `ollama create my-model -f Modelfile`.
- LM Studio: put `model.gguf` in its models folder (My Models → Show in folder) and load it.
"""

WHERE_BASE = """
On its first run `inference_example.py` downloads the base model from the Hugging Face Hub
(`{base_id}`) and puts this adapter on it with peft. Set `BASE_MODEL` in it to a local folder if
you have the base model on disk.
"""

NO_PUBLIC_BASE = """
The base model ({base}) has no public Hugging Face Hub id: it came from the VibeFlow server's
own disk, so this download cannot say where to get it. Set `BASE_MODEL` in `inference_example.py`
to a folder with that model before you run it; it puts this adapter on it with peft.
"""

MERGED_BASE = """
This is one whole model ({base} with the fine-tuning merged in): `inference_example.py` loads
it from this folder and downloads nothing else.
"""

CONVERT_ADAPTER = (
    'Merge the adapter into the base model (VibeFlow\'s "merged" download, or\n'
    '`PeftModel.from_pretrained(base, ".").merge_and_unload().save_pretrained("merged")`), convert\n'
    "it with llama.cpp's `convert_hf_to_gguf.py merged --outfile model.gguf`"
)
CONVERT_MERGED = (
    "Convert this folder with llama.cpp's `convert_hf_to_gguf.py . --outfile model.gguf`"
)

# What build_zip writes, as a number: raise it when that changes. apps/endpoints/exports.py puts it
# in the zips' names, so a zip an older format built is built again rather than served. Format 1
# held the files as this server saved them (transformers 5's tokenizer and model configs, the
# trained-from folder in adapter_config.json, training_args.bin); 2 is `portable_files`.
BUNDLE_FORMAT = 2

# peft writes a README.md of its own (ours replaces it); the trainer pickles its arguments,
# this server's paths among them, into training_args.bin, which nothing that runs a model reads.
LEFT_OUT = {"README.md", "training_args.bin"}


def _fix_adapter_config(config: dict, base_id: str | None) -> dict:
    # peft records the folder the run trained from; elsewhere the base is its public id or unknown.
    config["base_model_name_or_path"] = base_id
    return config


def _fix_tokenizer_config(config: dict, base_id: str | None) -> dict:
    """transformers 5 writes what 4.x cannot read; write it the way both do."""
    if config.get("tokenizer_class") == "TokenizersBackend":
        # 5.x's generic fast tokenizer is unknown to 4.x ("Tokenizer class TokenizersBackend does
        # not exist"); 5.x keeps the 4.x name, PreTrainedTokenizerFast, as an alias of it.
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        # ... whose 4.x version also returns token_type_ids, which a causal LM's generate()
        # refuses ("model_kwargs are not used by the model"); 5.x's returns only these two.
        config.setdefault("model_input_names", ["input_ids", "attention_mask"])
    if isinstance(config.get("extra_special_tokens"), list):
        # 4.x reads extra_special_tokens as a dict of named tokens (a list fails with "'list'
        # object has no attribute 'keys'"); 5.x reads the list under its 4.x name too.
        config["additional_special_tokens"] = config.pop("extra_special_tokens")
    for key in ("is_local", "local_files_only"):  # how this server loaded it, nothing more
        config.pop(key, None)
    return config


def _fix_model_config(config: dict, base_id: str | None) -> dict:
    """transformers 5 keeps RoPE settings in rope_parameters, which 4.x ignores: it would run
    with its default theta (10 000 where SmolLM2 needs 100 000) and generate worse, silently.
    Written in 4.x's keys as well; 5.x reads them into the same rope_parameters."""
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope:  # one setting for every layer
        config.setdefault("rope_theta", rope["rope_theta"])
        if rope.get("rope_type", "default") != "default":
            config.setdefault("rope_scaling", dict(rope))
    return config


FIXES = {
    "adapter_config.json": _fix_adapter_config,
    "tokenizer_config.json": _fix_tokenizer_config,
    "config.json": _fix_model_config,
}


def portable_files(
    version_dir: str | Path, base_id: str | None
) -> Iterator[tuple[str, Path | bytes]]:
    """(name in the download, a file to copy as it is or the bytes to write) for a version."""
    for path in sorted(Path(version_dir).iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name in LEFT_OUT:
            continue
        fix = FIXES.get(path.name)
        if fix is None:
            yield path.name, path
        else:
            config = fix(json.loads(path.read_text()), base_id)
            yield path.name, (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode()


def readme(
    *, title: str, base: str, base_id: str | None, method: str, version: str, adapter: bool
) -> str:
    if not adapter:
        where = MERGED_BASE.format(base=base)
    elif base_id:
        where = WHERE_BASE.format(base_id=base_id)
    else:
        where = NO_PUBLIC_BASE.format(base=base)
    return README.format(
        title=title,
        base=f"{base} (`{base_id}`)" if base_id else base,
        method=method,
        version=version,
        where_base=where,
        convert=CONVERT_ADAPTER if adapter else CONVERT_MERGED,
    )


def build_zip(
    version_dir: str | Path,
    out: str | Path,
    *,
    title: str,
    base: str,
    base_id: str | None,
    method: str,
    version: str,
) -> Path:
    """Write the zip once (atomically: to a temporary name, then renamed) and return its path.

    ``base`` names the base model for people; ``base_id`` is its public Hugging Face Hub id, or
    None for a model this server only has on disk (the download then says so).
    """
    out = Path(out)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter = (Path(version_dir) / "adapter_config.json").is_file()
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in portable_files(version_dir, base_id):
            if isinstance(content, bytes):
                archive.writestr(name, content)
            else:
                archive.write(content, name)
        archive.writestr("requirements.txt", REQUIREMENTS)
        archive.writestr("inference_example.py", EXAMPLE.format(base=base_id or ""))
        archive.writestr(
            "README.md",
            readme(
                title=title,
                base=base,
                base_id=base_id,
                method=method,
                version=version,
                adapter=adapter,
            ),
        )
    tmp.rename(out)
    return out
