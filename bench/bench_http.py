"""A real chat call over HTTP against a local OpenAI-format server, vs a bare aiohttp loop and peers.

Targets (same run, same interpreter; issue 11's acceptance): throughput at 64 concurrent
requests >= 1.2x a bare aiohttp loop; a sequential call's latency <= 1.0x the bare loop's.

The server (``python -m lmux_plug.testing.fake_openai --port 0``) runs in its own process
on 127.0.0.1 and is stopped at the end. Each client runs in a fresh process per repeat,
interleaved with the others; clients are measured in ``bench/.venv-peers`` (when
``setup_peers.sh`` made it) and in this interpreter, and a client that is not installed
in an interpreter is reported as such. "lmux_plug Registry" needs the openai plugin
(``lmux_plug_openai``); "lmux_plug Transport" is the core transport alone.

    python bench/bench_http.py [--repeats 3] [--seconds 1.5] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import _common

THROUGHPUT_TARGET = 1.2
LATENCY_TARGET = 1.0
CLIENTS = [
    "bare aiohttp",
    "lmux_plug Registry",
    "lmux_plug Transport",
    "openai SDK",
    "litellm",
    "lmux",
    "infermesh",
]
OURS = "lmux_plug Registry"


def profile(requests: int, concurrency: int) -> str:
    """Per-request CPU of bare / Transport / Registry in this process, then a cProfile of Registry.

    The CPU time per request is what each layer costs the client; the profile shows where
    the Registry path spends it (the server runs in its own process and is not profiled).
    """
    import asyncio
    import cProfile
    import io
    import pstats
    import time

    import _http_worker as worker

    async def run(make, url: str, n: int) -> float:
        chat, _, close = make(url)
        left = [200]

        async def loop() -> None:
            while left[0] > 0:
                left[0] -= 1
                if await chat() != worker.EXPECTED:
                    msg = "wrong answer"
                    raise RuntimeError(msg)

        await asyncio.gather(*(loop() for _ in range(concurrency)))  # warm-up
        left[0] = n
        cpu = time.process_time()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        cpu = time.process_time() - cpu
        await close()
        return cpu / n * 1e6

    makers = {
        "bare aiohttp": worker.client_bare,
        "lmux_plug Transport": worker.client_transport,
        "lmux_plug Registry": worker.client_registry,
    }
    cpu: dict[str, list[float]] = defaultdict(list)
    out = io.StringIO()
    with _common.fake_server() as url:
        for _ in range(3):
            for name, make in makers.items():
                cpu[name].append(asyncio.run(run(make, url, requests)))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(run(worker.client_registry, url, requests))
        profiler.disable()
    bare = _common.median(cpu["bare aiohttp"])
    rows = [
        [name, f"{_common.median(v):.1f}", _common.ratio(_common.median(v), bare)]
        for name, v in cpu.items()
    ]
    out.write(
        _common.table(
            f"Client CPU per request at {concurrency} concurrent ({requests} requests, median of 3)",
            ["client", "CPU µs/request", "vs bare"],
            rows,
        )
    )
    out.write("\n\ncProfile of the Registry path (by own time):\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="measuring time per concurrent run"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per run (at most)")
    _common.client_options(parser, CLIENTS)
    parser.add_argument(
        "--profile", action="store_true", help="only profile the lmux_plug layers in-process"
    )
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(3000, args.concurrency))
        return 0

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    with _common.fake_server() as url:
        exes, versions, conc, missing = _common.interleaved(
            args,
            url,
            "both",
            concurrency=args.concurrency,
            seconds=args.seconds,
            calls=args.calls,
        )
    seq = conc  # one worker process measures both modes

    rows = []
    verdicts = []
    for exe in exes:
        bare_key = (exe, "bare aiohttp")
        bare_rps = (
            _common.median([r["rps"] for r in conc[bare_key]]) if conc.get(bare_key) else None
        )
        bare_lat = (
            _common.median([r["latency"] for r in seq[bare_key]]) if seq.get(bare_key) else None
        )
        for client in clients:
            key = (exe, client)
            if key in missing:
                rows.append([client, versions[exe], "", missing[key], "", "", "", "", ""])
                continue
            rps_values = [float(r["rps"]) for r in conc[key]]
            lat_values = [float(r["latency"]) * 1000 for r in seq[key] if "latency" in r]
            errors = sum(int(r["errors"]) for r in conc[key])  # both modes, one process
            rps = _common.median(rps_values)
            lat = _common.median(lat_values) if lat_values else None
            thr_ratio = rps / bare_rps if bare_rps else None
            lat_ratio = (lat / (bare_lat * 1000)) if (lat and bare_lat) else None
            rows.append(
                [
                    client,
                    versions[exe],
                    str(conc[key][0].get("version", "")),
                    f"{rps:,.0f}",
                    _common.spread(rps_values),
                    f"{thr_ratio:.2f}x" if thr_ratio else "-",
                    f"{lat:.3f}" if lat else "-",
                    f"{lat_ratio:.2f}x" if lat_ratio else "-",
                    str(errors),
                ]
            )
            judged = client == OURS or (client == "lmux_plug Transport" and (exe, OURS) in missing)
            if judged and thr_ratio is not None:
                verdicts.append(
                    f"{client} ({versions[exe]}): throughput {thr_ratio:.2f}x bare "
                    f"({'met' if thr_ratio >= THROUGHPUT_TARGET else 'MISSED'}, target >= {THROUGHPUT_TARGET}x); "
                    f"latency {lat_ratio:.2f}x bare "
                    f"({'met' if lat_ratio is not None and lat_ratio <= LATENCY_TARGET else 'MISSED'}, target <= {LATENCY_TARGET}x)"
                )
    print(
        _common.table(
            f"Chat over HTTP to a local OpenAI-format server: {args.concurrency} concurrent (req/s, median of "
            f"{args.repeats} x {args.seconds:g} s) and sequential latency (median of up to {args.calls} calls per run)",
            [
                "client",
                "python",
                "version",
                "req/s",
                "spread",
                "vs bare",
                "seq ms/call",
                "vs bare",
                "errors",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    if any(k[1] == OURS for k in missing):
        print(
            f"note: {OURS} unavailable where listed (needs plugins/openai installed: pip install -e plugins/openai)"
        )
    print(f"({_common.machine_note()}; {_common.load_note()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
