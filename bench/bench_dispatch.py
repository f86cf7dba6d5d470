"""Dispatch overhead: a mock chat through ``Registry.achat`` / ``Registry.chat`` vs a bare hook call.

Targets: ``Registry.achat`` under 15 µs per call, sync ``Registry.chat`` under 60 µs.
Nothing is subtracted: the figure is the whole time of ``await registry.achat(...)``
(resolve, message conversion, capability check, credentials, hook dispatch through
pluggy, the mock's own work, cost). The bare call of the plugin's hook function with a
prebuilt request is printed as the floor for reference.

    python bench/bench_dispatch.py [--calls 20000] [--repeats 7] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable

import _common

from lmux_plug import ChatRequest
from lmux_plug import Registry
from lmux_plug import UserMessage
from lmux_plug._context import ProviderContext
from lmux_plug._types import Credentials
from lmux_plug.testing import MockProvider

ASYNC_TARGET_US = 15.0
SYNC_TARGET_US = 60.0


def make_registry() -> tuple[Registry, MockProvider]:
    mock = MockProvider()
    registry = Registry()
    registry.register("mock", mock)
    return registry, mock


async def time_async(
    call: Callable[[], Awaitable[object]], calls: int, reset: Callable[[], None]
) -> tuple[float, float]:
    """Wall and process-CPU seconds per call over ``calls`` sequential awaits.

    The CPU figure leaves out the time this process waited for a core: on a shared,
    loaded machine the wall figure grows with the load and the CPU figure does not.
    """
    reset()
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


def time_sync(
    call: Callable[[], object], calls: int, reset: Callable[[], None]
) -> tuple[float, float]:
    reset()
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


def measure(calls: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    registry, mock = make_registry()
    spec = registry.provider("mock")
    request = ChatRequest(model="mock-model", messages=(UserMessage("hi"),))
    context = ProviderContext(spec, spec.base_url, registry.transport, Credentials())
    echo_registry = Registry()

    async_cases: dict[str, Callable[[], Awaitable[object]]] = {
        "bare hook: await mock.lmux_plug_chat(request, ctx)": lambda: mock.lmux_plug_chat(
            request, context
        ),
        "Registry.achat('mock/mock-model', 'hi')": lambda: registry.achat("mock/mock-model", "hi"),
        "Registry.achat('mock/mock-model', [dict])": lambda: registry.achat(
            "mock/mock-model", [{"role": "user", "content": "hi"}]
        ),
        "Registry.achat('echo/echo-1', 'hi')": lambda: echo_registry.achat("echo/echo-1", "hi"),
    }
    sync_cases: dict[str, Callable[[], object]] = {
        "Registry.chat('mock/mock-model', 'hi') (sync)": lambda: registry.chat(
            "mock/mock-model", "hi"
        ),
    }
    results: dict[str, list[tuple[float, float]]] = {
        name: [] for name in [*async_cases, *sync_cases]
    }
    loop = asyncio.new_event_loop()
    try:
        for call in async_cases.values():  # warm caches (routes, pricing, attrs classes)
            loop.run_until_complete(time_async(call, 200, mock.reset))
        for call in sync_cases.values():
            time_sync(call, 200, mock.reset)
        for _ in range(repeats):  # interleaved repeats
            for name, call in async_cases.items():
                results[name].append(loop.run_until_complete(time_async(call, calls, mock.reset)))
            for name, call in sync_cases.items():
                results[name].append(time_sync(call, max(calls // 4, 1), mock.reset))
    finally:
        loop.close()
        registry.close()
        echo_registry.close()
    return results


def profile(calls: int) -> str:
    """cProfile of ``Registry.achat`` on the mock: where the microseconds go."""
    registry, mock = make_registry()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(
        time_async(lambda: registry.achat("mock/mock-model", "hi"), 200, mock.reset)
    )
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(
        time_async(lambda: registry.achat("mock/mock-model", "hi"), calls, mock.reset)
    )
    profiler.disable()
    loop.close()
    registry.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=20000, help="calls per repeat (sync: a quarter)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of Registry.achat")
    args = parser.parse_args(argv)

    results = measure(args.calls, args.repeats)
    names = list(results)
    bare_wall = _common.median([w for w, _ in results[names[0]]]) * 1e6
    bare_cpu = _common.median([c for _, c in results[names[0]]]) * 1e6
    rows = []
    for name in names:
        wall = [w * 1e6 for w, _ in results[name]]
        cpu = [c * 1e6 for _, c in results[name]]
        med_wall, med_cpu = _common.median(wall), _common.median(cpu)
        if name.startswith("Registry.achat"):
            limit = ASYNC_TARGET_US
        elif name.startswith("Registry.chat"):
            limit = SYNC_TARGET_US
        else:
            limit = None
        if limit is None:
            target = "reference"
        elif med_wall < limit:
            target = f"met (<{limit:.0f} µs)"
        elif med_cpu < limit:
            target = f"met in CPU time only (<{limit:.0f} µs)"
        else:
            target = f"MISSED (<{limit:.0f} µs)"
        rows.append(
            [
                name,
                f"{med_wall:.2f}",
                _common.spread(wall),
                _common.ratio(med_wall, bare_wall),
                f"{med_cpu:.2f}",
                _common.ratio(med_cpu, bare_cpu),
                target,
            ]
        )
    print(
        _common.table(
            f"Dispatch overhead per call, median of {args.repeats} repeats x {args.calls} calls "
            "(sync: a quarter of the calls)",
            ["call", "wall µs", "spread", "vs bare", "CPU µs", "vs bare", "target"],
            rows,
        )
    )
    if args.profile:
        print()
        print(profile(args.calls))
    print(f"({_common.machine_note()}; {_common.load_note()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
