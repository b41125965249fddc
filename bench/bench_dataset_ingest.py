"""Dataset ingest: our streaming analysis against a plain pandas baseline, same file, same machine.

Generates a CSV of N rows (default 1,000,000, about 500 MB) of support-style
questions and answers with some duplicates and empty cells, then, each in a
fresh child process (so peak memory is its own):

  baseline  pandas: read the whole file, count missing values and duplicates,
            average lengths, and draw an 80/20 split
  measured  VibeFlow, as the analysis task runs it (``ingest.build_from_upload``): sniff
            + detect the mapping + score every row + report + duplicate-aware split +
            write rows/train/test files. A CSV like this one takes the columnar path.
  streaming the same through the streaming path alone (every format's path, and the
            columnar path's fallback), for comparison; --skip-streaming leaves it out

The baseline and measured runs alternate --repeat times (this host's speed drifts by 2x
between runs); prints each pair's wall time, peak memory and ratio, and the median ratio.

    .venv/bin/python bench/bench_dataset_ingest.py [--rows N] [--repeat K] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "account billing invoice refund password reset team member export data settings security plan upgrade "
    "cancel subscription mobile app web dashboard browser extension sync login email language two-factor "
    "authentication receipt payment card discount trial workspace project permission role notification"
).split()


def generate(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ticket_id", "created_at", "customer_message", "support_reply"])
        for i in range(rows):
            question = " ".join(rng.choices(WORDS, k=rng.randint(8, 20))).capitalize() + "?"
            answer = " ".join(rng.choices(WORDS, k=rng.randint(40, 80))).capitalize() + "."
            if i % 50 == 7:
                question, answer = (
                    "How do I reset my password?",
                    "Go to Settings > Security > Reset Password.",
                )
            if i % 97 == 3:
                answer = ""
            writer.writerow([f"T{i}", f"2026-01-{1 + i % 28:02d}T10:00:00Z", question, answer])


def baseline(path: str) -> dict:
    import pandas as pd

    df = pd.read_csv(path)
    q, a = df["customer_message"].fillna(""), df["support_reply"].fillna("")
    empty = (q.str.strip() == "") | (a.str.strip() == "")
    missing = int(empty.sum())
    # As the report counts them: a row with an empty side is missing, not also a duplicate.
    duplicates = int(df[~empty].duplicated(subset=["customer_message", "support_reply"]).sum())
    lengths = (float(q.str.len().mean()), float(a.str.len().mean()))
    test = df.sample(frac=0.2, random_state=42)
    return {
        "rows": len(df),
        "missing": missing,
        "duplicates": duplicates,
        "lengths": lengths,
        "test": len(test),
    }


def _ours(path: str, streaming: bool) -> dict:
    from apps.datasets.analysis import build_version, items_from_upload, read_upload
    from apps.datasets.ingest import build_from_upload

    out = Path(tempfile.mkdtemp(prefix="vibeflow-bench-"))
    try:
        upload = read_upload(Path(path), Path(path).name)
        mapping = upload.proposal.as_dict()
        if streaming:
            report = build_version(items_from_upload(upload, mapping), out)
        else:
            report = build_from_upload(upload, mapping, out)
        written = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    counts = report["issue_counts"]
    return {
        "rows": report["total"],
        "missing": counts.get("missing", 0),
        "duplicates": counts.get("duplicate", 0),
        "test": report["test"],
        "written": written,
    }


def write_floor(size: int, folder: Path) -> float:
    """Seconds this machine takes just to write ``size`` bytes to a file (page cache included),
    the part of the measured run that the baseline, which writes nothing, never pays."""
    block = b"x" * (8 << 20)
    started = time.perf_counter()
    with open(folder / "floor.bin", "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
        f.write(block[: size % len(block)])
    elapsed = time.perf_counter() - started
    (folder / "floor.bin").unlink()
    return elapsed


def measured(path: str) -> dict:
    return _ours(path, streaming=False)


def streaming(path: str) -> dict:
    return _ours(path, streaming=True)


def _child(name: str, path: str, queue) -> None:
    started = time.perf_counter()
    result = {"baseline": baseline, "measured": measured, "streaming": streaming}[name](path)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((elapsed, peak_mb, result))


def run(name: str, path: Path) -> tuple[float, float, dict]:
    ctx = mp.get_context("spawn")  # a fresh interpreter each: peak memory is the run's own
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(name, str(path), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating baseline/measured pairs")
    parser.add_argument("--skip-streaming", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vibeflow-bench-data-"))
    path = folder / "support.csv"
    started = time.perf_counter()
    generate(path, args.rows)
    print(
        f"generated {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s"
    )
    ratios, peaks = [], []
    try:
        for k in range(args.repeat):
            b_time, b_mem, b = run("baseline", path)
            m_time, m_mem, m = run("measured", path)
            ratios.append(m_time / b_time)
            peaks.append(m_mem)
            print(
                f"pair {k + 1}: baseline (pandas) {b_time:5.1f} s peak {b_mem:5.0f} MB | "
                f"measured (VibeFlow) {m_time:5.1f} s peak {m_mem:5.0f} MB | "
                f"time ratio {m_time / b_time:.2f}x"
            )
        print(
            f"  rows {b['rows']:,}: baseline missing {b['missing']:,} duplicates {b['duplicates']:,}; "
            f"VibeFlow missing {m['missing']:,} duplicates {m['duplicates']:,} test {m['test']:,}"
        )
        if not args.skip_streaming:
            s_time, s_mem, _ = run("streaming", path)
            print(
                f"streaming path alone: {s_time:.1f} s peak {s_mem:.0f} MB "
                f"({s_time / m_time:.1f}x the measured run before it)"
            )
        floor = write_floor(m["written"], folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"the version's files (rows, train, test, index): {m['written'] / 1e6:.0f} MB; writing that "
        f"many bytes alone takes {floor:.1f} s here (the baseline writes nothing)"
    )
    ratios.sort()
    median = ratios[len(ratios) // 2]
    print(
        f"ratio time: VibeFlow takes {median:.2f}x the baseline's time, median of {len(ratios)} "
        f"alternating pairs ({'faster' if median < 1 else 'slower'}; range {ratios[0]:.2f}-{ratios[-1]:.2f})"
    )
    print(
        f"memory: VibeFlow peaks at {max(peaks):.0f} MB at most (target: under 1024 MB: "
        f"{'met' if max(peaks) < 1024 else 'missed'})"
    )


if __name__ == "__main__":
    main()
