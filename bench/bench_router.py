"""Router overhead over a bare plugin call (in-memory backend, built-in echo provider).

    python bench/bench_router.py [--calls 20000] [--repeats 7]

Times sequential ``achat`` calls on one event loop: the bare ``Registry.achat`` to the
``echo`` provider, and the same call through a ``Router`` whose logical model has 3
deployments, each with rpm and tpm limits, a 2-key pool and a circuit breaker (the
in-memory state backend). Repeats are interleaved (bare, routed, bare, ...) and reported
as medians with their spread, in wall time and in process CPU time (less sensitive to a
loaded machine). The target: under 30 us of router overhead per call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable

import _common

from lmux_plug.registry import Registry
from lmux_plug.router import Deployment, Limits, LogicalModel, Router, RouterConfig

MESSAGES = [{"role": "user", "content": "hello router"}]
TARGET_US = 30.0


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.repeats))
