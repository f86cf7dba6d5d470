"""Batch throughput: lmux_plug.batch vs a hand-written aiohttp loop vs LiteLLM.

Starts ``python -m lmux_plug.testing.fake_openai --latency 0.02`` in a separate process and
sends ``--items`` chat requests (default 100,000) with ``--window`` in flight (default 256)
three ways, in the same run against the same server:

* ``aiohttp``: a hand-written ``aiohttp`` + ``asyncio.Semaphore`` loop (the floor of overhead);
* ``lmux_plug``: ``lmux_plug.batch.agenerate_batch`` through a ``Registry`` and the OpenAI
  plugin (typed messages, hooks, error mapping, cost, per-item results);
* ``litellm``: ``litellm.acompletion`` with the same semaphore window, run by the Python of a
  bench-only virtualenv (``--litellm-python``, default ``bench/.venv-peers/bin/python`` made by ``setup_peers.sh``);
  reported as unavailable when that interpreter or LiteLLM is missing. Its per-request
  overhead is much higher, so by default it gets ``--litellm-items`` (10,000) requests and
  is compared by rate.

Targets: lmux_plug >= 0.9x aiohttp, and >= 2x LiteLLM. Run:
``python bench/bench_batch.py --items 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def prompts(n: int) -> list[str]:
    return [f"item {i}" for i in range(n)]


async def run_aiohttp(url: str, n: int, window: int) -> tuple[float, int]:
    import aiohttp

    ok = 0
    semaphore = asyncio.Semaphore(window)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=window)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(prompt: str) -> None:
            nonlocal ok
            async with semaphore:
                body = {"model": "fake-model", "messages": [{"role": "user", "content": prompt}]}
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    data = json.loads(await response.read())
                    if response.status == 200 and data["choices"][0]["message"]["content"]:
                        ok += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts(n)))
        return time.perf_counter() - start, ok


def _fake_registry(url: str) -> Any:
    """A Registry with the openai plugin and ``fake/`` pointing at the server (no key)."""
    import lmux_plug_openai

    from lmux_plug import Capability
    from lmux_plug import NoAuth
    from lmux_plug import ProviderSpec
    from lmux_plug import Registry

    registry = Registry(plugins=[lmux_plug_openai])
    spec = ProviderSpec(
        name="fake",
        wire="openai",
        base_url=url,
        auth=NoAuth(),
        capabilities=frozenset({Capability.CHAT}),
    )
    registry.register("fake", spec)
    return registry


async def run_lmux(url: str, n: int, window: int) -> tuple[float, int]:
    from lmux_plug.batch import agenerate_batch

    registry = _fake_registry(url)
    try:
        start = time.perf_counter()
        batch = await agenerate_batch(
            "fake/fake-model", prompts(n), client=registry, max_parallel_requests=window
        )
        elapsed = time.perf_counter() - start
    finally:
        await registry.aclose()
    return elapsed, batch.ok_count


async def run_registry_gather(url: str, n: int, window: int) -> tuple[float, int]:
    """The same Registry calls without the batch engine: isolates the engine's own cost."""

    registry = _fake_registry(url)
    ok = 0
    semaphore = asyncio.Semaphore(window)

    async def one(prompt: str) -> None:
        nonlocal ok
        async with semaphore:
            response = await registry.achat("fake/fake-model", prompt)
            if response.content:
                ok += 1

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts(n)))
        elapsed = time.perf_counter() - start
    finally:
        await registry.aclose()
    return elapsed, ok


async def run_lmux_stream(url: str, n: int, window: int) -> tuple[float, int]:
    """``aiter_generate``: the streaming form, which keeps no results."""
    import contextlib

    from lmux_plug.batch import aiter_generate

    registry = _fake_registry(url)
    ok = 0
    try:
        start = time.perf_counter()
        stream = aiter_generate(
            "fake/fake-model", iter(prompts(n)), client=registry, max_parallel_requests=window
        )
        async with contextlib.aclosing(stream):
            async for outcome in stream:
                ok += outcome.error is None
        elapsed = time.perf_counter() - start
    finally:
        await registry.aclose()
    return elapsed, ok


LITELLM_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import litellm
    url, n, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    litellm.suppress_debug_info = True
    async def main():
        ok = 0
        sem = asyncio.Semaphore(window)
        async def one(i):
            nonlocal ok
            async with sem:
                r = await litellm.acompletion(
                    model="openai/fake-model", api_base=url, api_key="sk-fake",
                    messages=[{"role": "user", "content": f"item {i}"}])
                if r.choices[0].message.content:
                    ok += 1
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - start, ok
    elapsed, ok = asyncio.run(main())
    print(json.dumps({"elapsed": elapsed, "ok": ok, "version": __import__("importlib.metadata").metadata.version("litellm")}))
    """
)


def run_litellm(python: str, url: str, n: int, window: int) -> dict | str:
    if not Path(python).exists():
        return f"unavailable (no interpreter at {python}; see bench/README.md)"
    check = subprocess.run(
        [python, "-c", "import litellm"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        return f"unavailable (import litellm failed: {check.stderr.strip().splitlines()[-1:]})"
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [python, "-c", LITELLM_SCRIPT, url, str(n), str(window)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=3600,
    )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[-500:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--litellm-items", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the runs this often")
    parser.add_argument(
        "--litellm-python",
        default=os.environ.get(
            "LMUX_BENCH_LITELLM_PYTHON", str(HERE / ".venv-peers" / "bin" / "python")
        ),
    )
    args = parser.parse_args()
    from lmux_plug.testing.fake_openai import serve_in_process

    with serve_in_process(latency=args.latency) as url:
        rates: dict[str, list[float]] = {
            "aiohttp": [],
            "registry+gather": [],
            "lmux_plug": [],
            "lmux_plug stream": [],
        }
        ideal = args.window / args.latency
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}")
        print(
            f"{args.items} items, window {args.window}, server latency {args.latency * 1000:.0f} ms "
            f"(ceiling {ideal:,.0f} req/s)"
        )
        for _ in range(args.rounds):
            runners = (
                ("aiohttp", run_aiohttp),
                ("registry+gather", run_registry_gather),
                ("lmux_plug", run_lmux),
                ("lmux_plug stream", run_lmux_stream),
            )
            for name, runner in runners:
                cpu = time.process_time()
                elapsed, ok = asyncio.run(runner(url, args.items, args.window))
                cpu_us = (time.process_time() - cpu) / args.items * 1e6
                assert ok == args.items, f"{name}: only {ok} of {args.items} succeeded"
                rates[name].append(args.items / elapsed)
                print(
                    f"  {name:<16} {elapsed:7.2f} s  {args.items / elapsed:9,.0f} req/s  "
                    f"client CPU {cpu_us:6.0f} us/request"
                )
        best = {name: statistics.median(values) for name, values in rates.items()}
        litellm = run_litellm(args.litellm_python, url, args.litellm_items, args.window)
        if isinstance(litellm, dict):
            rate = args.litellm_items / litellm["elapsed"]
            print(
                f"  {'litellm':<16} {litellm['elapsed']:7.2f} s  {rate:9,.0f} req/s "
                f"({args.litellm_items} items, litellm {litellm['version']})"
            )
        else:
            rate = None
            print(f"  {'litellm':<16} {litellm}")
        print("ratios of the median rates:")
        print(f"lmux_plug / aiohttp = {best['lmux_plug'] / best['aiohttp']:.2f}x (target >= 0.9x)")
        print(
            "lmux_plug stream / aiohttp = "
            f"{best['lmux_plug stream'] / best['aiohttp']:.2f}x (aiter_generate, keeps no results)"
        )
        print(
            "lmux_plug / registry+gather = "
            f"{best['lmux_plug'] / best['registry+gather']:.2f}x (the batch engine's own cost)"
        )
        if rate:
            print(f"lmux_plug / litellm = {best['lmux_plug'] / rate:.2f}x (target >= 2x)")
        else:
            print("lmux_plug / litellm = n/a (litellm unavailable)")


if __name__ == "__main__":
    main()
