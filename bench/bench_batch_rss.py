"""Peak memory of a 1,000,000-line batch through the CLI (target: under 250 MB).

Writes ``--items`` prompts (default 1,000,000) to a temporary JSONL file, runs
``python -m lmux_plug.batch.cli IN -o OUT -m echo/echo-1`` as a child process and reads the
child's peak RSS from ``resource.getrusage(RUSAGE_CHILDREN)``. The echo model answers
offline, so the figure is the batch machinery's own memory: streamed input, bounded
window, append-only output, a bit set for resume and 8 bytes of latency per item.
Run: ``python bench/bench_batch_rss.py [--items N] [--concurrency 256]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_MB = 250


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with src.open("w", encoding="utf-8") as handle:
            for i in range(args.items):
                handle.write(json.dumps({"id": f"q{i}", "prompt": f"question number {i}"}) + "\n")
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "lmux_plug.batch.cli",
                str(src),
                "-o",
                str(out),
                "-m",
                "echo/echo-1",
                "-c",
                str(args.concurrency),
                "--progress-interval",
                "30",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        with out.open("rb") as handle:
            lines = sum(1 for _ in handle)
    if done.returncode != 0:
        print(done.stderr)
        raise SystemExit(f"the batch failed with exit code {done.returncode}")
    assert lines == args.items, f"{lines} output lines for {args.items} inputs"
    print(f"{args.items:,} items in {elapsed:.1f} s ({args.items / elapsed:,.0f} items/s)")
    verdict = "ok" if peak_mb < LIMIT_MB else "OVER"
    print(f"peak RSS of the CLI process: {peak_mb:.0f} MB (target < {LIMIT_MB} MB: {verdict})")


if __name__ == "__main__":
    main()
