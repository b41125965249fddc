"""A version as a download: the adapter (or whole model), the tokenizer, and what runs it."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

REQUIREMENTS = """torch>=2.4
transformers>=4.56
peft>=0.17
accelerate>=1.0
safetensors>=0.4
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

`inference_example.py` loads the base model ({base}) and puts this adapter on it with peft.
Set `BASE_MODEL` in it to a local folder if you have the base model on disk.

## Ollama / LM Studio

Both run GGUF files. Merge the adapter into the base model (VibeFlow's "merged" download, or
`PeftModel.from_pretrained(base, ".").merge_and_unload().save_pretrained("merged")`), convert it
with llama.cpp's `convert_hf_to_gguf.py merged --outfile model.gguf`, then:

- Ollama: write a `Modelfile` with `FROM ./model.gguf` and run `ollama create my-model -f Modelfile`.
- LM Studio: put `model.gguf` in its models folder (My Models → Show in folder) and load it.
"""


def build_zip(
    version_dir: str | Path, out: str | Path, *, title: str, base: str, method: str, version: str
) -> Path:
    """Write the zip once (atomically: to a temporary name, then renamed) and return its path."""
    out = Path(out)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(version_dir).iterdir()):
            # peft writes a README.md of its own; ours (below) replaces it.
            if path.is_file() and not path.name.startswith(".") and path.name != "README.md":
                archive.write(path, path.name)
        archive.writestr("requirements.txt", REQUIREMENTS)
        archive.writestr("inference_example.py", EXAMPLE.format(base=base))
        archive.writestr(
            "README.md", README.format(title=title, base=base, method=method, version=version)
        )
    tmp.rename(out)
    return out
