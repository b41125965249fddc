"""The CPU serving path on a CUDA GPU: `transformers serve --device cuda` against calling
transformers' generate directly in a loop, at concurrency 1, 8 and 32, with and without
continuous batching.

On GPU nodes the product serves through vLLM (deploy/Procfile `inference-gpu`); this measures
the server the product ships by default (`transformers serve`, the `inference` process) on
a GPU, where its continuous batching has a device to fill. No gateway: the gateway's own
overhead is bench_serving.py's figure and does not depend on the model's device.

The model is a seeded random initialisation of the bundled model's configuration (the bundled
model's tokenizer and config files in ``--model-dir``; weights are written when the folder has
none): serving speed depends on the shapes, not the values.

    python bench/bench_serving_gpu.py --model-dir DIR [--tokens 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import require_cuda  # noqa: E402
from bench_serving import baseline, free_port, load, wait_http  # noqa: E402


def ensure_weights(model_dir: Path) -> str:
    if any(model_dir.glob("*.safetensors")):
        return "its weights"
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    model.to(torch.bfloat16).save_pretrained(model_dir, safe_serialization=True)
    return "seeded random weights of its config"


def start_server(
    port: int, continuous_batching: bool, log_path: Path, device: str
) -> subprocess.Popen:
    command = [sys.executable, "-c", "from transformers.cli.transformers import main; main()"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--device", device]
    command += ["--continuous-batching" if continuous_batching else "--no-continuous-batching"]
    return subprocess.Popen(command, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)


def line(label: str, r: dict, base: dict | None = None) -> str:
    text = (
        f"{label}: {r['rps']:.2f} req/s, {r['tps']:.1f} tok/s, "
        f"p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms"
    )
    if base:
        text += f" -> tok/s ratio {r['tps'] / base['tps']:.2f}x the baseline"
    return text


def main() -> int:
    if not any(a == "--device" or a.startswith("--device=") for a in sys.argv[1:]):
        require_cuda()  # before the arguments: on a CPU machine, that is the one thing to say
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--log-dir", default=".")
    # A CPU smoke run of the script itself (few requests), before spending GPU time on it.
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch
    import transformers

    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("No CUDA device here: this benchmark is for a GPU node.")
        return 1
    model_dir = Path(args.model_dir).resolve()
    weights = ensure_weights(model_dir)
    print(
        f"device: {torch.cuda.get_device_name(0) if device == 'cuda' else device}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}; model: {model_dir.name} with {weights}, bf16; "
        f"max_tokens {args.tokens}"
    )
    base = baseline(str(model_dir), max(2, int(32 * args.scale)), args.tokens, device=device)
    print(line(f"baseline generate loop ({device}, one request at a time)", base))
    if device == "cuda":
        torch.cuda.empty_cache()

    failures = 0
    for cb in (False, True):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(args.log_dir) / f"serve-cb-{'on' if cb else 'off'}.log"
        proc = start_server(port, cb, log, device)
        try:
            started = time.monotonic()
            wait_http(f"{url}/health", 180, process=proc)
            # The first request loads the model by path; time it apart from the load test.
            load(f"{url}/v1/chat/completions", {}, str(model_dir), 1, 2, args.tokens)
            print(
                f"\ntransformers serve --device {device}, continuous batching {'on' if cb else 'off'}: "
                f"up and model loaded in {time.monotonic() - started:.1f} s"
            )
            for concurrency, n in ((1, 16), (8, 64), (32, 128)):
                n = max(concurrency, int(n * args.scale))
                r = load(
                    f"{url}/v1/chat/completions", {}, str(model_dir), concurrency, n, args.tokens
                )
                print(line(f"server c={concurrency:<2} ({n} requests)", r, base))
        except Exception as exc:  # report and go on to the other setting
            failures += 1
            print(f"continuous batching {'on' if cb else 'off'}: FAILED: {exc}")
            print(log.read_text()[-3000:])
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
