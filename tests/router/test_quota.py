"""Quota pooling against servers that enforce 10/15/20 requests per 1 s window.

The throughput tests run on a virtual-time loop (``tests/router/virtual_time.py``): the
router, the servers' quota windows and the stopwatch share one clock that moves only while
the loop is idle, so the share of the pooled quota used does not depend on machine load.
"""

from __future__ import annotations

import asyncio

import pytest

from lmux_plug import Registry
from lmux_plug.errors import RateLimitError
from lmux_plug.resilience.clock import ManualClock
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import Quota
from lmux_plug.testing.fake_openai import provider_spec
from tests.router.load import keep_calling
from tests.router.virtual_time import LoopClock
from tests.router.virtual_time import run_in_virtual_time

QUOTAS = (10, 15, 20)
WINDOW = 1.0
POOLED = sum(QUOTAS) / WINDOW  # requests per second the three servers allow together


async def _load(router: Router, duration: float, concurrency: int) -> tuple[list[float], int]:
    """Run ``concurrency`` callers for ``duration`` s; return success times, refusals."""
    now = asyncio.get_running_loop().time
    start = now()
    stop_at = start + duration
    load = await keep_calling(
        router, concurrency=concurrency, stop_at=stop_at, now=now, prefix="w", retries=20
    )
    assert load.errors == []
    # A refusal means the client-side queue could not serve a call before the end of the run.
    assert all(t >= stop_at - 1.5 * WINDOW for t in load.refused)
    return [t - start for t in load.answered], len(load.refused)


def _steady_count(done: list[float], t0: float, windows: int) -> int:
    """Successes in ``windows`` whole quota windows starting at the first success >= t0."""
    first = min(t for t in done if t >= t0)
    return sum(1 for t in done if first <= t < first + windows * WINDOW)


async def _pooled_run(
    limits: list[Limits], duration: float, watch_429: bool = False
) -> tuple[list[float], Router, list[FakeOpenAIServer], list[tuple[float, int]]]:
    """64 callers on a pool of the three quota servers, one deployment each with ``limits``.

    Returns the success times, the router, the servers and (with ``watch_429``) a timeline
    of the 429s the servers had sent, sampled every 50 ms.
    """
    plugin = pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")
    servers = [FakeOpenAIServer(FaultPlan(latency=0.002, quota=Quota(q, WINDOW))) for q in QUOTAS]
    timeline: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    for server in servers:
        await server.start()
    try:
        async with Registry(plugins=[plugin]) as registry:
            registry.register("fake", provider_spec())
            deployments = [
                Deployment("fake/fake-model", base_url=s.url, limits=limit)
                for s, limit in zip(servers, limits, strict=True)
            ]
            router = Router(
                {"pool": LogicalModel("pool", deployments)}, registry=registry, clock=LoopClock()
            )

            async def watch() -> None:
                begin = loop.time()
                while loop.time() - begin < duration:
                    refused = sum(s.stats["status_429"] for s in servers)
                    timeline.append((loop.time() - begin, refused))
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch()) if watch_429 else None
            done, _ = await _load(router, duration=duration, concurrency=64)
            if watcher is not None:
                await watcher
    finally:
        for server in servers:
            await server.stop()
    return done, router, servers, timeline


def test_declared_limits_use_97_percent_of_pooled_quota_without_429():
    limits = [Limits(rpm=q, burst=1, minute=WINDOW) for q in QUOTAS]
    done, router, servers, _ = run_in_virtual_time(_pooled_run(limits, duration=4.2))
    received_429 = sum(s.stats["status_429"] for s in servers)
    assert received_429 == 0
    count = _steady_count(done, 0.0, 4)
    assert count >= 0.97 * POOLED * 4 * WINDOW, (count, POOLED * 4)
    # Quota pooling: every server was used up to its own limit, none beyond.
    stats = router.stats()["deployments"]
    for server, quota in zip(servers, QUOTAS, strict=True):
        assert server.stats["status_200"] >= 0.9 * 4 * quota
        assert stats[f"fake/fake-model@{server.url}"]["rate_limited"] == 0


def test_limits_learnt_from_headers_recover_to_97_percent():
    # No rpm declared: the router learns 10/15/20 from x-ratelimit-* headers
    # (``minute`` only scales the window to the test's 1 s).
    limits = [Limits(minute=WINDOW) for _ in QUOTAS]
    done, router, _, timeline = run_in_virtual_time(
        _pooled_run(limits, duration=7.5, watch_429=True)
    )
    learned = {d: e["limits"] for d, e in router.stats()["deployments"].items()}
    assert sorted(v["rpm"] for v in learned.values()) == [10, 15, 20]
    # Some 429s while learning, then none: recovered within 2.5 s.
    total_429 = timeline[-1][1]
    at_recovery = max(n for t, n in timeline if t <= 2.5)
    assert total_429 > 0
    assert total_429 == at_recovery, timeline[-10:]
    count = _steady_count(done, 2.5, 4)
    assert count >= 0.97 * POOLED * 4 * WINDOW, (count, POOLED * 4)


def _limited_router(
    registry, server: FakeOpenAIServer, name: str, limits: Limits
) -> tuple[Router, ManualClock]:
    """A router on a manual clock: ``name`` is one deployment of ``server`` with ``limits``."""
    deployment = Deployment("fake/fake-model", base_url=server.url, limits=limits)
    clock = ManualClock()
    return Router({name: [deployment]}, registry=registry, clock=clock), clock


async def test_queue_that_cannot_be_served_in_time_fails_fast(registry):
    async with FakeOpenAIServer() as server:
        router, clock = _limited_router(registry, server, "slow", Limits(rpm=2, minute=10.0))
        await router.achat("slow", "a")
        await router.achat("slow", "b")
        with pytest.raises(RateLimitError) as info:
            await router.achat("slow", "c", deadline=1.0)
        assert info.value.retry_after is not None
        assert info.value.retry_after > 1.0
        assert "deadline" in str(info.value)
        assert clock.slept == []  # failed fast: it did not sit out the deadline
        assert server.stats["requests"] == 2


async def test_token_limits_wait_and_reconcile(registry):
    async with FakeOpenAIServer() as server:
        router, clock = _limited_router(registry, server, "t", Limits(tpm=400, minute=1.0))
        # Each call is estimated at ~1 + 100 tokens; real usage is ~10: the bucket is
        # refunded after each call, so many more than 4 calls fit in the first (virtual)
        # second, without any wait.
        for i in range(12):
            await router.achat("t", f"q{i}", max_tokens=100)
        assert clock.slept == []
        assert server.stats["requests"] == 12
        # ~1,000 estimated tokens never fit a 400-token minute: refused at once, not queued.
        with pytest.raises(RateLimitError):
            await router.achat("t", "x" * 4000, max_tokens=100, deadline=0.2)
        assert sum(clock.slept) <= 0.2
        assert server.stats["requests"] == 12
