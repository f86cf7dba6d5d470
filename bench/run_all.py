"""Run every benchmark with modest defaults (a few minutes) and print one table per benchmark.

    python bench/run_all.py                 # all of them
    python bench/run_all.py --only dispatch,stream
    python bench/run_all.py --output bench/results/latest.md

Peers are measured when ``bench/setup_peers.sh`` has made ``bench/.venv-peers``; without
it, only what this interpreter has installed is measured and the rest is reported as not
installed. Each benchmark can also be run on its own with more repeats (see its --help).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import _common

# name -> (script, arguments): modest defaults so that a full run stays around 5 minutes.
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "import": ("bench_import.py", ["--repeats", "10", "--peer-repeats", "3", "--importtime"]),
    "dispatch": ("bench_dispatch.py", ["--calls", "20000", "--repeats", "7"]),
    "http": ("bench_http.py", ["--repeats", "3", "--seconds", "1.0", "--calls", "300"]),
    # LiteLLM streams at a few thousand chunks/s; run bench_stream.py to include it.
    "stream": (
        "bench_stream.py",
        [
            "--streams",
            "150",
            "--repeats",
            "3",
            "--clients",
            "bare aiohttp lines,bare aiohttp,lmux_plug Registry,lmux_plug Transport,openai SDK,lmux",
        ],
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument("--output", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)

    header = f"lmux-plug benchmarks: {_common.machine_note()}"
    peers = _common.peers_python()
    header += f"; peers venv: {peers or 'not set up (bash bench/setup_peers.sh)'}"
    print(header, flush=True)
    sections = [header]
    status = 0
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        script, options = BENCHMARKS[name]
        print(f"\n## {name} ({script} {' '.join(options)})\n", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(_common.BENCH / script), *options],
            capture_output=True,
            text=True,
            cwd=str(_common.REPO),
            check=False,
        )
        took = time.perf_counter() - start
        print(proc.stdout, flush=True)
        if proc.returncode != 0:
            status = 1
            print(proc.stderr[-3000:], file=sys.stderr)
        print(f"({name}: {took:.0f} s)", flush=True)
        sections.append(
            f"## {name}\n\n`python bench/{script} {' '.join(options)}` ({took:.0f} s)\n\n{proc.stdout}"
        )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n\n".join(sections) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
