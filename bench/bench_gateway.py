"""Gateway overhead: the same load straight to a local upstream and through the gateway.

Starts, as subprocesses on 127.0.0.1:

* the zero-latency fake upstream (``python -m lmux_plug.testing.fake_openai``),
* the lmux-plug gateway (``python -m lmux_plug.gateway.serve``) in front of it, with a
  virtual key so authentication is on the measured path (and, with ``--gateway-python``,
  the same gateway under other interpreters, e.g. a venv with ``uvicorn[standard]``),
* LiteLLM's proxy in front of it, from a bench-only virtualenv (``--litellm``, default
  ``bench/.venv-peers``); reported as unavailable when it is not installed.

Each round runs, for every target in turn, ``--concurrency`` aiohttp clients sending
requests back to back, then one client alone (sequential: the per-request cost without
queueing). Rounds are interleaved; medians over rounds are reported, with the added
latency (target median - direct median) and ratios to the direct figures.

    python bench/bench_gateway.py [--concurrency 200] [--requests 10] [--sequential 300]
        [--repeats 3] [--litellm PYTHON] [--gateway-python PYTHON] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import _common
import aiohttp

from lmux_plug.testing.fake_openai import stop_process

VIRTUAL_KEY = "vk-bench-client-key"
BODY = {
    "model": "openai/fake-model",
    "messages": [{"role": "user", "content": "hello there"}],
    "max_tokens": 16,
}
# What the fake upstream answers to BODY; every paced response is checked against it.
EXPECTED_REPLY = "echo: hello there"


def _start(cmd, pattern, env=None, timeout=120.0, ready_url=None):
    """Start a subprocess; wait for an output line matching ``pattern`` (or ``ready_url`` to answer)."""
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    found = []
    seen = []

    def read():
        for line in process.stdout:  # keep draining so the child never blocks on a full pipe
            seen.append(line)
            match = re.search(pattern, line) if pattern else None
            if match and not found:
                found.append(match)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline and process.poll() is None:
        if ready_url and _answers(ready_url):
            found.append(None)
            break
        time.sleep(0.2 if ready_url else 0.05)
    if not found:
        process.kill()
        raise RuntimeError(f"{cmd[0]} did not start:\n{''.join(seen[-30:])}")
    return process, found[0]


def _answers(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers, even if not with 200
    except OSError:
        return False


async def _load(url, headers, concurrency, per_client, body):
    latencies = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    payload = json.dumps(body).encode()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client():
            nonlocal errors
            for _ in range(per_client):
                started = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as response:
                    raw = await response.read()
                    if response.status != 200 or not _reply_ok(raw):
                        errors += 1
                latencies.append(time.perf_counter() - started)

        # Warm up the pools (one request per client) before measuring.
        warm = [
            asyncio.create_task(_one(session, url, headers, payload)) for _ in range(concurrency)
        ]
        await asyncio.gather(*warm)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rps": len(latencies) / elapsed,
    }


async def _one(session, url, headers, payload):
    async with session.post(url, data=payload, headers=headers) as response:
        await response.read()


# -- open loop: clients on a fixed schedule ------------------------------------------------


def _reply_ok(raw: bytes) -> bool:
    """Whether a response body is the chat completion the fake upstream answers."""
    try:
        return json.loads(raw)["choices"][0]["message"]["content"] == EXPECTED_REPLY
    except (ValueError, KeyError, IndexError, TypeError):
        return False


async def _paced(url, headers, *, clients, rate, duration, warmup, timeout, seed):
    """``clients`` clients, each on its own keep-alive connection, at ``rate`` req/s in total.

    Client ``i`` sends every ``clients / rate`` seconds from a random phase, each send
    jittered by up to +-10 % of the interval, so arrivals are spread, not in lock-step.
    Latency runs from the *scheduled* send time: a send delayed by a slow previous response
    counts its wait. Sends still pending when the window closes are not made; they count
    as ``unsent`` and enter the percentiles with their wait so far (a lower bound).
    Requests scheduled in the first ``warmup`` seconds are sent but not recorded.
    """
    rng = random.Random(seed)
    interval = clients / rate
    payload = json.dumps(BODY).encode()
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, force_close=False), timeout=client_timeout
        )
        for _ in range(clients)
    ]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    # "answered": good responses that arrived inside the measured window, whenever they
    # were scheduled (a saturated target still answers its warm-up backlog): throughput.
    counts = {"scheduled": 0, "ok": 0, "unsent": 0, "answered": 0}
    perf = time.perf_counter
    try:
        # One request per connection first, so connects are not measured.
        await asyncio.gather(*(_one(s, url, headers, payload) for s in sessions))
        start = perf() + 0.05
        measured_from = start + warmup
        end = start + warmup + duration

        async def client(session, phase):
            k = 0
            while True:
                jitter = (rng.random() - 0.5) * 0.2 * interval
                scheduled = start + phase + k * interval + jitter
                k += 1
                if scheduled >= end:
                    return
                record = scheduled >= measured_from
                now = perf()
                if now < scheduled:
                    await asyncio.sleep(scheduled - now)
                elif now >= end:
                    # Behind schedule past the window: the rest of the backlog is unsent.
                    while scheduled < end:
                        if scheduled >= measured_from:
                            counts["scheduled"] += 1
                            counts["unsent"] += 1
                            latencies.append(now - scheduled)
                        scheduled = start + phase + k * interval
                        k += 1
                    return
                reason = None
                try:
                    async with session.post(url, data=payload, headers=headers) as response:
                        raw = await response.read()
                        if response.status != 200:
                            reason = f"HTTP {response.status}"
                        elif not _reply_ok(raw):
                            reason = "unexpected body"
                except asyncio.TimeoutError:
                    reason = "timeout"
                except aiohttp.ClientError as exc:
                    reason = type(exc).__name__
                done = perf()
                if reason is None and measured_from <= done < end:
                    counts["answered"] += 1
                if record:
                    counts["scheduled"] += 1
                    latencies.append(done - scheduled)
                    if reason is None:
                        counts["ok"] += 1
                    else:
                        errors[reason] = errors.get(reason, 0) + 1

        await asyncio.gather(*(client(s, rng.random() * interval) for s in sessions))
        finished = perf()
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    latencies.sort()
    n = len(latencies)
    return {
        "offered_rps": rate,
        "scheduled": counts["scheduled"],
        "ok": counts["ok"],
        "unsent": counts["unsent"],
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "median_ms": statistics.median(latencies) * 1000 if n else float("nan"),
        "p99_ms": latencies[max(math.ceil(n * 0.99) - 1, 0)] * 1000 if n else float("nan"),
        "rps": counts["answered"] / duration,
        "drain_s": finished - end,
    }


def _run(coroutine):
    """Run the load generator on uvloop when installed (a cheaper client leaves more CPU)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _measure(url, headers, concurrency, per_client, sequential):
    """One round against one target: the concurrent load, then the sequential run."""
    return {
        "concurrent": _run(_load(url, headers, concurrency, per_client, BODY)),
        "sequential": _run(_load(url, headers, 1, sequential, BODY)),
    }


def _litellm(args, upstream_url, tmp):
    python = args.litellm
    if not python or not Path(python).exists():
        return None, "unavailable: no LiteLLM virtualenv given (--litellm)"
    check = subprocess.run(
        [python, "-c", "import litellm.proxy.proxy_cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        return (
            None,
            f"unavailable: litellm proxy does not import ({check.stderr.strip().splitlines()[-1:]})",
        )
    config = Path(tmp) / "litellm.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            model_list:
              - model_name: openai/fake-model
                litellm_params:
                  model: openai/fake-model
                  api_base: {upstream_url}
                  api_key: sk-bench-not-a-real-key
            general_settings:
              master_key: sk-{VIRTUAL_KEY}
            litellm_settings:
              telemetry: false
            """
        )
    )
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    port = _free_port()
    cli = str(Path(python).parent / "litellm")
    process, _ = _start(
        [
            cli,
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        None,
        env=env,
        timeout=240,
        ready_url=f"http://127.0.0.1:{port}/health/liveliness",
    )
    return (process, f"http://127.0.0.1:{port}/v1/chat/completions"), None


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Runs the gateway with uvicorn's httptools protocol and uvloop unimportable, so uvicorn
# serves h11 on asyncio's loop: what ``lmux-plug[gateway]`` gave before it pulled them in.
# Only uvicorn's module is hidden, not ``httptools`` itself: the core HTTP client frames
# its upstream responses with it, and without it every upstream call failed (500), which
# made this row look like h11 failing under load.
_PLAIN_SERVE = (
    "import runpy, sys; sys.modules['uvicorn.protocols.http.httptools_impl'] = None; "
    "sys.modules['uvloop'] = None; "
    "runpy.run_module('lmux_plug.gateway.serve', run_name='__main__', alter_sys=True)"
)


def _server_flavour(python):
    """Which HTTP parser / loop uvicorn picks with this python: " (h11)" or " (httptools+uvloop)"."""
    code = "import importlib.util as u; print(bool(u.find_spec('httptools')), bool(u.find_spec('uvloop')))"
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=False
    ).stdout.split()
    parts = [
        name
        for name, present in zip(("httptools", "uvloop"), out, strict=False)
        if present == "True"
    ]
    return f" ({'+'.join(parts)})" if parts else " (h11)"


def _summary(rounds):
    """Medians over rounds of each figure."""
    out = {}
    for kind in ("concurrent", "sequential"):
        out[kind] = {
            key: statistics.median(r[kind][key] for r in rounds)
            for key in ("median_ms", "p99_ms", "rps")
        }
        out[kind]["errors"] = sum(r[kind]["errors"] for r in rounds)
        out[kind]["requests"] = sum(r[kind]["requests"] for r in rounds)
    return out


# The numeric options of main(): flag, type, default, help.
_NUMBERS = (
    ("--concurrency", int, 200, "clients of the closed-loop rounds"),
    ("--requests", int, 10, "requests per client and round"),
    ("--sequential", int, 300, "requests of each sequential run"),
    ("--repeats", int, 3, "interleaved rounds; medians are reported"),
    ("--litellm-requests", int, 3, "requests per client for LiteLLM"),
    ("--clients", int, 200, "paced mode: clients (one connection each)"),
    ("--duration", float, 4.0, "paced mode: measured seconds per load"),
    ("--warmup", float, 1.0, "paced mode: unrecorded seconds first"),
    (
        "--litellm-duration",
        float,
        3.0,
        "paced mode: measured seconds for LiteLLM (it saturates; keeps the run short)",
    ),
    ("--timeout", float, 30.0, "paced mode: per-request timeout (error)"),
    ("--paced-repeats", int, None, "paced rounds (default: --repeats)"),
)
# The parts main() can skip: flag, help.
_SKIPS = (
    ("--no-plain", "skip the extra gateway row without httptools/uvloop (h11 + asyncio loop)"),
    ("--no-closed", "skip the closed-loop part"),
    ("--no-paced", "skip the paced part"),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default, help_ in _NUMBERS:
        parser.add_argument(flag, type=kind, default=default, help=help_)
    for flag, help_ in _SKIPS:
        parser.add_argument(flag, action="store_true", help=help_)
    parser.add_argument(
        "--litellm",
        default=os.environ.get("LITELLM_PYTHON") or _common.peers_python(),
        help="python of a venv with litellm[proxy] (default: bench/.venv-peers)",
    )
    parser.add_argument(
        "--gateway-python",
        action="append",
        default=[],
        help="also run the gateway with this python (e.g. a venv with uvicorn[standard])",
    )
    parser.add_argument(
        "--loads",
        default="50,200,500,1000",
        help="paced mode: total offered loads in req/s, comma-separated",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    loads = [float(x) for x in args.loads.split(",") if x.strip()]
    paced_repeats = args.repeats if args.paced_repeats is None else args.paced_repeats
    print(_common.machine_note(), "|", _common.load_note(), flush=True)

    upstream, match = _start(
        [sys.executable, "-m", "lmux_plug.testing.fake_openai", "--port", "0"], r"PORT (\d+)"
    )
    upstream_url = f"http://127.0.0.1:{match.group(1)}/v1"
    processes = [upstream]
    # name -> (url, headers, requests per client)
    targets = {
        "direct": (
            upstream_url + "/chat/completions",
            {"authorization": "Bearer sk-bench-not-a-real-key", "content-type": "application/json"},
            args.requests,
        )
    }
    results = {
        "machine": _common.machine_note(),
        "load_before": _common.load_note(),
        "rounds": {},
        "paced": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "lmux.toml"
            config.write_text(f'[gateway.providers.openai]\nbase_url = "{upstream_url}"\n')
            env = {
                **os.environ,
                "OPENAI_API_KEY": "sk-bench-not-a-real-key",
                "LMUX_PLUG_GATEWAY_KEYS": f"bench={VIRTUAL_KEY}",
            }
            auth = {"authorization": f"Bearer {VIRTUAL_KEY}", "content-type": "application/json"}
            variants = [(python, None) for python in [sys.executable, *args.gateway_python]]
            if not args.no_plain and _server_flavour(sys.executable) != " (h11)":
                # The same interpreter with httptools and uvloop hidden: uvicorn's defaults.
                variants.insert(1, (sys.executable, " (h11, asyncio)"))
            for python, flavour in variants:
                serve = ["--port", "0", "--config", str(config), "--log-level", "warning"]
                if flavour is None:
                    command = [python, "-m", "lmux_plug.gateway.serve", *serve]
                else:
                    command = [python, "-c", _PLAIN_SERVE, *serve]
                gateway, match = _start(command, r"http://127\.0\.0\.1:(\d+)/v1", env=env)
                processes.append(gateway)
                url = f"http://127.0.0.1:{match.group(1)}/v1/chat/completions"
                name = "lmux-plug" + (flavour or _server_flavour(python))
                targets[name] = (url, auth, args.requests)
            try:
                started, reason = _litellm(args, upstream_url, tmp)
            except RuntimeError as exc:
                started, reason = None, f"unavailable: proxy did not start ({str(exc)[-300:]})"
            if started is None:
                results["litellm"] = reason
                print(f"litellm: {reason}", flush=True)
            else:
                process, url = started
                processes.append(process)
                litellm_auth = {
                    "authorization": f"Bearer sk-{VIRTUAL_KEY}",
                    "content-type": "application/json",
                }
                targets["litellm"] = (url, litellm_auth, args.litellm_requests)
            # Interleaved rounds: every target once per round, so drift hits all alike.
            for round_no in range(0 if args.no_closed else args.repeats):
                for name, (url, headers, per_client) in targets.items():
                    figures = _measure(url, headers, args.concurrency, per_client, args.sequential)
                    results["rounds"].setdefault(name, []).append(figures)
                    conc, seq = figures["concurrent"], figures["sequential"]
                    print(
                        f"round {round_no + 1} {name:30s} c={args.concurrency}: median {conc['median_ms']:8.2f} ms "
                        f"p99 {conc['p99_ms']:8.2f} ms {conc['rps']:6.0f} req/s err {conc['errors']} | "
                        f"sequential median {seq['median_ms']:6.3f} ms p99 {seq['p99_ms']:6.3f} ms",
                        flush=True,
                    )
            for round_no in range(0 if args.no_paced else paced_repeats):
                for rate in loads:
                    for name, (url, headers, _) in targets.items():
                        seconds = args.litellm_duration if name == "litellm" else args.duration
                        figures = _run(
                            _paced(
                                url,
                                headers,
                                clients=args.clients,
                                rate=rate,
                                duration=seconds,
                                warmup=args.warmup,
                                timeout=args.timeout,
                                seed=round_no * 1000 + int(rate),
                            )
                        )
                        results["paced"].setdefault(name, {}).setdefault(str(rate), []).append(
                            figures
                        )
                        print(
                            f"paced round {round_no + 1} {name:30s} {rate:6.0f} req/s offered: "
                            f"median {figures['median_ms']:8.2f} ms p99 {figures['p99_ms']:8.2f} ms "
                            f"achieved {figures['rps']:6.0f} req/s ok {figures['ok']} "
                            f"err {figures['errors']} {figures['error_kinds'] or ''} "
                            f"unsent {figures['unsent']}",
                            flush=True,
                        )
    finally:
        for process in processes:
            stop_process(process)

    results["load_after"] = _common.load_note()
    if results["rounds"]:
        _closed_table(results, args)
    if results["paced"]:
        _paced_table(results, args, loads, paced_repeats)
    if "litellm" in results and isinstance(results["litellm"], str):
        print(f"LiteLLM: {results['litellm']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def _paced_table(results, args, loads, repeats):
    """Per offered load: each target's medians over rounds, and what it adds to direct."""
    summary = {}
    for name, per_rate in results["paced"].items():
        for rate, rounds in per_rate.items():
            summary.setdefault(name, {})[rate] = {
                **{
                    key: statistics.median(r[key] for r in rounds)
                    for key in ("median_ms", "p99_ms", "rps")
                },
                **{key: sum(r[key] for r in rounds) for key in ("ok", "errors", "unsent")},
            }
    results["paced_summary"] = summary
    rows = []
    for rate in loads:
        base = summary.get("direct", {}).get(str(rate))
        for name, per_rate in summary.items():
            entry = per_rate.get(str(rate))
            if entry is None:
                continue
            added = name != "direct" and base is not None
            rows.append(
                [
                    f"{rate:,.0f}",
                    name,
                    f"{entry['median_ms']:.2f}",
                    f"{entry['median_ms'] - base['median_ms']:+.2f}" if added else "",
                    _common.ratio(entry["median_ms"], base["median_ms"]) if base else "",
                    f"{entry['p99_ms']:.2f}",
                    f"{entry['p99_ms'] - base['p99_ms']:+.2f}" if added else "",
                    f"{entry['rps']:,.0f}" + (" (saturated)" if entry["rps"] < 0.9 * rate else ""),
                    str(entry["ok"]),
                    str(entry["errors"]),
                    str(entry["unsent"]),
                ]
            )
    print()
    print(
        _common.table(
            f"Paced (open loop): {args.clients} clients, one connection each, latency from the "
            f"scheduled send; medians of {repeats} interleaved rounds ({results['load_after']})",
            [
                "offered req/s",
                "target",
                "median ms",
                "added ms",
                "x direct",
                "p99 ms",
                "added p99 ms",
                "achieved req/s",
                "ok",
                "errors",
                "unsent",
            ],
            rows,
        )
    )


def _closed_table(results, args):
    """The closed-loop (capacity) and sequential figures."""
    summary = {name: _summary(rounds) for name, rounds in results["rounds"].items()}
    results["summary"] = summary
    direct = summary["direct"]
    rows = []
    for name, entry in summary.items():
        conc, seq = entry["concurrent"], entry["sequential"]
        rows.append(
            [
                name,
                f"{seq['median_ms']:.3f}",
                ""
                if name == "direct"
                else f"{seq['median_ms'] - direct['sequential']['median_ms']:+.3f}",
                _common.ratio(seq["median_ms"], direct["sequential"]["median_ms"]),
                f"{conc['median_ms']:.1f}",
                f"{conc['p99_ms']:.1f}",
                ""
                if name == "direct"
                else f"{conc['median_ms'] - direct['concurrent']['median_ms']:+.1f}",
                f"{conc['rps']:,.0f}",
                _common.ratio(conc["rps"], direct["concurrent"]["rps"]),
                str(conc["errors"] + seq["errors"]),
            ]
        )
    print()
    print(
        _common.table(
            f"Closed loop (capacity) and sequential, medians of {args.repeats} interleaved rounds ({results['load_after']})",
            [
                "target",
                "seq median ms",
                "added ms",
                "x direct",
                f"c={args.concurrency} median ms",
                "p99 ms",
                "added ms",
                "req/s",
                "x direct",
                "errors",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
