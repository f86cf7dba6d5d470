"""Quota pooling against servers that enforce 10/15/20 requests per 1 s window."""

from __future__ import annotations

import asyncio
import time

import aiohttp  # noqa: F401 - imported up front so the first call is not slowed by it
import pytest

from lmux_plug.errors import RateLimitError
from lmux_plug.resilience.clock import ManualClock
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import Quota
from tests.router.load import keep_calling

QUOTAS = (10, 15, 20)
WINDOW = 1.0
POOLED = sum(QUOTAS) / WINDOW  # requests per second the three servers allow together


async def _load(
    router: Router, duration: float, concurrency: int
) -> tuple[float, list[float], int]:
    """Run ``concurrency`` callers for ``duration`` s; return start, success times, refusals."""
    start = time.monotonic()
    stop_at = start + duration
    load = await keep_calling(
        router,
        concurrency=concurrency,
        stop_at=stop_at,
        now=time.monotonic,
        prefix="w",
        retries=20,
    )
    assert load.errors == []
    # A refusal means the client-side queue could not serve a call before the end of the run.
    assert all(t >= stop_at - 1.5 * WINDOW for t in load.refused)
    return start, [t - start for t in load.answered], len(load.refused)


def _servers() -> list[FakeOpenAIServer]:
    return [FakeOpenAIServer(FaultPlan(latency=0.002, quota=Quota(q, WINDOW))) for q in QUOTAS]


def _steady_count(done: list[float], t0: float, windows: int) -> int:
    """Successes in ``windows`` whole quota windows starting at the first success >= t0."""
    first = min(t for t in done if t >= t0)
    return sum(1 for t in done if first <= t < first + windows * WINDOW)


@pytest.mark.slow
async def test_declared_limits_use_97_percent_of_pooled_quota_without_429(registry):
    servers = _servers()
    for server in servers:
        await server.start()
    try:
        deployments = [
            Deployment(
                "fake/fake-model", base_url=s.url, limits=Limits(rpm=q, burst=1, minute=WINDOW)
            )
            for s, q in zip(servers, QUOTAS, strict=True)
        ]
        router = Router({"pool": LogicalModel("pool", deployments)}, registry=registry)
        _, done, _ = await _load(router, duration=4.2, concurrency=64)
    finally:
        for server in servers:
            await server.stop()
    received_429 = sum(s.stats["status_429"] for s in servers)
    assert received_429 == 0
    count = _steady_count(done, 0.0, 4)
    assert count >= 0.97 * POOLED * 4 * WINDOW, (count, POOLED * 4)
    # Quota pooling: every server was used up to its own limit, none beyond.
    stats = router.stats()["deployments"]
    for server, quota in zip(servers, QUOTAS, strict=True):
        assert server.stats["status_200"] >= 0.9 * 4 * quota
        assert stats[f"fake/fake-model@{server.url}"]["rate_limited"] == 0


@pytest.mark.slow
async def test_limits_learnt_from_headers_recover_to_97_percent(registry):
    servers = _servers()
    for server in servers:
        await server.start()
    timeline: list[tuple[float, int]] = []
    try:
        # No rpm declared: the router learns 10/15/20 from x-ratelimit-* headers
        # (``minute`` only scales the window to the test's 1 s).
        deployments = [
            Deployment("fake/fake-model", base_url=s.url, limits=Limits(minute=WINDOW))
            for s in servers
        ]
        router = Router({"pool": LogicalModel("pool", deployments)}, registry=registry)

        async def watch() -> None:
            begin = time.monotonic()
            while time.monotonic() - begin < 7.5:
                timeline.append(
                    (time.monotonic() - begin, sum(s.stats["status_429"] for s in servers))
                )
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        _, done, _ = await _load(router, duration=7.5, concurrency=64)
        await watcher
    finally:
        for server in servers:
            await server.stop()
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
