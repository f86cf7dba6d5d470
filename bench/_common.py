"""Shared helpers for the benchmarks: statistics, tables, interpreters and the fake server.

Every benchmark runs its peers in the same run, interleaved, and reports medians of
repeats next to ratios; the machine is shared and noisy, so single figures mean little.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS_VENV = BENCH / ".venv-peers"


def peers_python() -> str | None:
    """The bench-only peers interpreter made by ``setup_peers.sh``, if it exists."""
    exe = PEERS_VENV / "bin" / "python"
    return str(exe) if exe.exists() else None


def python_version(exe: str) -> str:
    """``3.11.7`` for an interpreter path."""
    out = subprocess.run(
        [exe, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def machine_note() -> str:
    """One line describing where the figures came from."""
    return (
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()} ({sys.executable}), "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared)"
    )


def median(values: Sequence[float]) -> float:
    """Median of non-empty ``values``."""
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``min..max`` of ``values``, for the reader to judge noise."""
    low, high = min(values), max(values)
    if high >= 100:
        return f"{low:,.0f}..{high:,.0f}"
    return f"{low:.3g}..{high:.3g}"


def ratio(value: float | None, reference: float | None) -> str:
    """``value / reference`` formatted, or ``-``."""
    if value is None or reference is None or reference == 0:
        return "-"
    return f"{value / reference:.2f}x"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table under a bold title."""
    text_rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text_rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [f"**{title}**", "", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in text_rows)
    return "\n".join(out)


@contextlib.contextmanager
def fake_server(chunks: int = 8, reply: str | None = None) -> Iterator[str]:
    """Start ``lmux_plug.testing.fake_openai`` on 127.0.0.1 in its own process; yield its URL.

    The server runs in a separate interpreter so that it does not share a core's GIL with
    the client being measured; it is terminated (then killed if need be) on exit.
    """
    # Imported here: peer interpreters (LiteLLM's venv) import this module without lmux_plug.
    from lmux_plug.testing.fake_openai import serve_in_process

    with serve_in_process(chunks=chunks, reply=reply, cwd=str(REPO)) as url:
        yield url


def worker_env() -> dict[str, str]:
    """Environment for client processes: no phoning home, whatever the library."""
    env = dict(os.environ)
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # LiteLLM would fetch its price map
            "LITELLM_TELEMETRY": "False",
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    env.pop("OPENAI_API_KEY", None)
    env.pop("PYTHONPATH", None)
    return env


def interpreters() -> list[str]:
    """The peers venv first (if set up), then this interpreter."""
    found = [sys.executable]
    peers = peers_python()
    if peers and Path(peers).resolve() != Path(sys.executable).resolve():
        found.insert(0, peers)
    return found


def run_worker(
    exe: str, client: str, url: str, mode: str, timeout: float = 180, **options: object
) -> dict[str, object]:
    """Run ``_http_worker.py`` for one client and mode; return its JSON result."""
    import json

    cmd = [exe, str(BENCH / "_http_worker.py"), "--client", client, "--url", url, "--mode", mode]
    for key, value in options.items():
        cmd += [f"--{key}", str(value)]
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(),
            cwd=str(BENCH),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:.0f} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return {"failed": (out.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


def load_note() -> str:
    """The machine's load averages: figures taken under load > cores are inflated."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def client_options(parser: argparse.ArgumentParser, clients: Sequence[str]) -> None:
    """The ``--clients`` and ``--python`` options of the benchmarks that compare clients."""
    parser.add_argument("--clients", default=",".join(clients), help="comma-separated subset")
    parser.add_argument(
        "--python",
        action="append",
        help="interpreter(s) to measure in (default: peers venv + this)",
    )


def interleaved(
    args: argparse.Namespace, url: str, mode: str, **options: object
) -> tuple[
    list[str],
    dict[str, str],
    dict[tuple[str, str], list[dict[str, object]]],
    dict[tuple[str, str], str],
]:
    """Run every client of ``--clients`` in every interpreter, ``--repeats`` times, interleaved.

    Each run is a fresh worker process (``run_worker(exe, client, url, mode, **options)``),
    so a repeat of one client never follows itself and load drifts hit every client alike.
    Returns the interpreters, their versions, the results per (interpreter, client) and
    why a (interpreter, client) pair was skipped (not installed, or failed).
    """
    exes = args.python or interpreters()
    versions = {exe: python_version(exe) for exe in exes}
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    results: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    missing: dict[tuple[str, str], str] = {}
    for _ in range(args.repeats):
        for exe in exes:
            for client in clients:
                key = (exe, client)
                if key in missing:
                    continue
                result = run_worker(exe, client, url, mode, **options)
                if "unavailable" in result or "failed" in result:
                    missing[key] = str(result.get("unavailable") or result.get("failed"))
                    continue
                results[key].append(result)
    return exes, versions, results, missing
