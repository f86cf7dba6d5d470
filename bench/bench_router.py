"""Router overhead over a bare plugin call (in-memory backend, built-in echo provider).

    python bench/bench_router.py [--calls 20000] [--repeats 7] [--http-requests 4000]

Times sequential ``achat`` calls on one event loop: the bare ``Registry.achat`` to the
``echo`` provider, and the same call through a ``Router`` whose logical model has 3
deployments, each with rpm and tpm limits, a 2-key pool and a circuit breaker (the
in-memory state backend). Repeats are interleaved (bare, routed, bare, ...) and reported
as medians with their spread, in wall time and in process CPU time (less sensitive to a
loaded machine). The target: under 30 us of router overhead per call.

Then, over HTTP: the throughput of ``Router.achat`` (one logical model over a single
``openai`` deployment) against ``Registry.achat`` to the same local fake OpenAI server
(its own process), both at 64 concurrent calls in this process, interleaved repeats. The
target: the router keeps at least 0.85x the registry's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable
from collections.abc import Callable

import _common

from lmux_plug.registry import Registry
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig

MESSAGES = [{"role": "user", "content": "hello router"}]
TARGET_US = 30.0
HTTP_TARGET = 0.85
HTTP_MODEL = "openai/fake-model"
HTTP_KEY = "sk-bench"


def make_router(registry: Registry) -> Router:
    """3 deployments with limits, key pools and breakers, on the in-memory backend."""
    deployments = [
        Deployment(
            "echo/echo-1",
            name=f"echo-{i}",
            api_keys=(f"bench-key-{i}-a", f"bench-key-{i}-b"),
            limits=Limits(rpm=50_000_000, tpm=10_000_000_000),
        )
        for i in range(3)
    ]
    config = RouterConfig(models={"m": LogicalModel("m", deployments)}, breaker_threshold=5)
    return Router(config=config, registry=registry)


async def _time(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float]:
    """Seconds per call: (wall, process CPU)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


async def main(calls: int, repeats: int) -> None:
    registry = Registry()
    router = make_router(registry)

    async def bare() -> object:
        return await registry.achat("echo/echo-1", MESSAGES, api_key="bench-key-0-a")

    async def routed() -> object:
        return await router.achat("m", MESSAGES)

    await _time(bare, 2000)  # warm up both paths
    await _time(routed, 2000)
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "routed": []}
    for _ in range(repeats):
        results["bare"].append(await _time(bare, calls))
        results["routed"].append(await _time(routed, calls))
    rows = []
    medians = {}
    for clock, index in (("wall", 0), ("cpu", 1)):
        bare_us = [r[index] * 1e6 for r in results["bare"]]
        routed_us = [r[index] * 1e6 for r in results["routed"]]
        overhead = [r - b for r, b in zip(routed_us, bare_us, strict=True)]
        medians[clock] = _common.median(overhead)
        rows.append(
            [
                clock,
                f"{_common.median(bare_us):.1f}",
                f"{_common.median(routed_us):.1f}",
                f"{_common.median(overhead):.1f} ({_common.spread(overhead)})",
                _common.ratio(_common.median(routed_us), _common.median(bare_us)),
            ]
        )
    print(_common.machine_note())
    print(_common.load_note())
    print()
    print(
        _common.table(
            f"Router overhead per call, 3 deployments, limits + key pools + breakers "
            f"(median of {repeats} x {calls} calls)",
            ["clock", "bare us/call", "router us/call", "overhead us (spread)", "ratio"],
            rows,
        )
    )
    verdict = "OK" if medians["cpu"] < TARGET_US else "OVER"
    print(f"\ntarget: overhead < {TARGET_US:.0f} us per call (CPU median) -> {verdict}")
    stats = router.stats()["deployments"]
    print("calls per deployment:", {k: v["requests"] for k, v in sorted(stats.items())})


async def _throughput(
    call: Callable[[], Awaitable[object]], requests: int, concurrency: int
) -> tuple[float, float]:
    """Calls per second (wall) and client CPU microseconds per call, ``concurrency`` at once."""
    left = [requests]

    async def loop() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return requests / wall, cpu / requests * 1e6


async def http_comparison(
    url: str, requests: int, repeats: int, concurrency: int
) -> dict[str, list[tuple[float, float]]]:
    """Registry vs Router throughput on the same server (interleaved repeats)."""
    import lmux_plug_openai

    registry = Registry(builtins=False)
    if "openai" not in {s.name for s in registry.providers()}:
        registry.add_plugin(lmux_plug_openai, name="openai")
    deployment = Deployment(HTTP_MODEL, base_url=url, api_keys=(HTTP_KEY,))
    router = Router(
        config=RouterConfig(models={"m": LogicalModel("m", [deployment])}), registry=registry
    )
    expected = "echo: hi"

    async def bare() -> object:
        response = await registry.achat(HTTP_MODEL, "hi", base_url=url, api_key=HTTP_KEY)
        if response.content != expected:
            raise RuntimeError(response.content)
        return response

    async def routed() -> object:
        response = await router.achat("m", "hi")
        if response.content != expected:
            raise RuntimeError(response.content)
        return response

    await _throughput(bare, 500, concurrency)  # warm up both paths and the pools
    await _throughput(routed, 500, concurrency)
    results: dict[str, list[tuple[float, float]]] = {"registry": [], "router": []}
    for _ in range(repeats):
        results["registry"].append(await _throughput(bare, requests, concurrency))
        results["router"].append(await _throughput(routed, requests, concurrency))
    await router.aclose()
    return results


def report_http(requests: int, repeats: int, concurrency: int) -> None:
    """Run :func:`http_comparison` against the fake OpenAI server and print the table."""
    with _common.fake_server() as url:
        results = asyncio.run(http_comparison(url, requests, repeats, concurrency))
    ratios = [r[0] / b[0] for r, b in zip(results["router"], results["registry"], strict=True)]
    rows = []
    for name, runs in results.items():
        rows.append(
            [
                name,
                f"{_common.median([r[0] for r in runs]):,.0f}",
                f"{_common.median([r[1] for r in runs]):.1f}",
            ]
        )
    print()
    print(
        _common.table(
            f"Over HTTP, {concurrency} concurrent, one deployment "
            f"(median of {repeats} x {requests} calls)",
            ["client", "calls/s", "client CPU us/call"],
            rows,
        )
    )
    ratio = _common.median(ratios)
    verdict = "OK" if ratio >= HTTP_TARGET else "UNDER"
    print(
        f"\nrouter / registry throughput: {ratio:.2f}x (runs: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); target >= {HTTP_TARGET} -> {verdict}"
    )
    # Client CPU per call moves less with the load than calls/s (the server shares the cores).
    cpu = [b[1] / r[1] for r, b in zip(results["router"], results["registry"], strict=True)]
    print(
        f"registry / router client CPU per call: {_common.median(cpu):.2f}x (runs: "
        f"{', '.join(f'{c:.2f}' for c in cpu)}); {_common.load_note()}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--http-requests", type=int, default=4000)
    parser.add_argument("--http-repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--only-http", action="store_true", help="skip the echo measurement")
    args = parser.parse_args()
    if not args.only_http:
        asyncio.run(main(args.calls, args.repeats))
    report_http(args.http_requests, args.http_repeats, args.concurrency)
