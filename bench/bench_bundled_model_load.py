"""How much the cached copy of the bundled model saves on every load.

Baseline: loading SmolLM2-135M-Instruct from the package's GGUF file (transformers
de-quantises it on every load). Measured: loading the cached safetensors copy that
the run command makes once. Both in this process, on this machine; prints the ratio.

    .venv/bin/python bench/bench_bundled_model_load.py [CACHE_DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.models.bundled import bundled_gguf_path, ensure_bundled_model  # noqa: E402


def timed(load, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        model = load()
        times.append(time.perf_counter() - started)
        del model
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    # The run and test commands' cache (var/models of this checkout, wherever this runs from)
    parser.add_argument("cache_dir", nargs="?", default=str(ROOT / "var" / "models"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    cached = ensure_bundled_model(Path(args.cache_dir))
    gguf = bundled_gguf_path()

    baseline = timed(
        lambda: AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name), args.repeat
    )
    measured = timed(lambda: AutoModelForCausalLM.from_pretrained(cached), args.repeat)

    b, m = statistics.median(baseline), statistics.median(measured)
    print(
        f"load from GGUF (baseline): median {b:.2f} s over {args.repeat} ({', '.join(f'{t:.2f}' for t in baseline)})"
    )
    print(
        f"load cached safetensors:   median {m:.3f} s over {args.repeat} ({', '.join(f'{t:.3f}' for t in measured)})"
    )
    print(f"ratio: cached copy loads {b / m:.0f}x faster")


if __name__ == "__main__":
    main()
