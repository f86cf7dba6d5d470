"""Streaming throughput: chunks/s through ``Registry.achat_stream`` vs the openai SDK and a bare loop.

Targets: ``Registry.achat_stream`` >= 1.5x the official openai SDK's streaming and
(issue 11) >= 0.9x the bare aiohttp line loop, same server, same run, same interpreter. The ceiling is a bare aiohttp loop over the same SSE lines
(with ``json.loads`` of each event, and without any decoding at all).

The local server (``fake_openai --chunks 200``) streams ``--streams`` responses of 200
content chunks each; every client's joined deltas are checked against the reply text, and
chunks/s counts content chunks of correct streams only.

    python bench/bench_stream.py [--streams 500] [--repeats 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys

import _common

TARGET = 1.5
LINES_TARGET = 0.9  # issue 11: >= 0.9x the bare line loop, same run
CHUNKS = 200
CLIENTS = [
    "bare aiohttp lines",
    "bare aiohttp",
    "lmux_plug Registry",
    "lmux_plug Transport",
    "openai SDK",
    "lmux",
    "litellm",
]
OURS = "lmux_plug Registry"
SDK = "openai SDK"


def reply_text() -> str:
    """1,600 characters, so each of the 200 chunks carries 8 characters of text."""
    words = "the quick brown fox jumps over the lazy dog while streaming tokens arrive "
    return (words * (CHUNKS * 8 // len(words) + 1))[: CHUNKS * 8]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    _common.client_options(parser, CLIENTS)
    args = parser.parse_args(argv)

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    text = reply_text()
    with _common.fake_server(chunks=CHUNKS, reply=text) as url:
        exes, versions, results, missing = _common.interleaved(
            args,
            url,
            "stream",
            timeout=600,
            calls=args.streams,
            concurrency=args.concurrency,
            expected=text,
            **{"expected-chunks": CHUNKS},
        )

    rows = []
    verdicts = []
    for exe in exes:
        medians = {
            client: _common.median([float(r["chunks_per_s"]) for r in results[(exe, client)]])
            for client in clients
            if results.get((exe, client))
        }
        sdk = medians.get(SDK)
        ceiling = medians.get("bare aiohttp lines")
        for client in clients:
            key = (exe, client)
            if key in missing:
                rows.append([client, versions[exe], "", missing[key], "", "", "", ""])
                continue
            values = [float(r["chunks_per_s"]) for r in results[key]]
            errors = sum(int(r["errors"]) for r in results[key])
            rows.append(
                [
                    client,
                    versions[exe],
                    str(results[key][0].get("version", "")),
                    f"{medians[client]:,.0f}",
                    _common.spread(values),
                    _common.ratio(medians[client], sdk),
                    _common.ratio(medians[client], ceiling),
                    str(errors),
                ]
            )
        if OURS in medians and sdk:
            r = medians[OURS] / sdk
            line = (
                f"{OURS} ({versions[exe]}): {r:.2f}x the openai SDK "
                f"({'met' if r >= TARGET else 'MISSED'}, target >= {TARGET}x)"
            )
            if ceiling:
                lines = medians[OURS] / ceiling
                line += (
                    f"; {lines:.2f}x the bare line loop "
                    f"({'met' if lines >= LINES_TARGET else 'MISSED'}, target >= {LINES_TARGET}x)"
                )
            verdicts.append(line)
    print(
        _common.table(
            f"Streaming: {args.streams} streams x {CHUNKS} chunks, {args.concurrency} at a time, "
            f"content chunks/s (median of {args.repeats})",
            [
                "client",
                "python",
                "version",
                "chunks/s",
                "spread",
                "vs openai SDK",
                "vs bare lines",
                "errors",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    for (exe, client), reason in missing.items():
        if client == OURS:
            print(f"note: {OURS} unavailable under {versions[exe]}: {reason}")
    print(f"({_common.machine_note()}; {_common.load_note()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
