"""Both state backends behave the same: buckets, cooldowns, records; Redis shares them."""

from __future__ import annotations

import asyncio
import time

import pytest

from lmux_plug.router import Deployment
from lmux_plug.router import MemoryBackend
from lmux_plug.router import RedisBackend
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import StateBackend
from lmux_plug.router.breaker import Breaker
from lmux_plug.router.config import Limits
from lmux_plug.router.limits import LimitTracker
from lmux_plug.router.limits import rate_limit_headers
from lmux_plug.router.state import Bucket
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request):
    if request.param == "memory":
        yield MemoryBackend()
        return
    backend = RedisBackend(request.getfixturevalue("redis_url"), prefix=f"s{time.monotonic_ns()}")
    try:
        yield backend
    finally:
        await backend.flush()
        await backend.aclose()


async def test_backends_implement_the_protocol(backend):
    assert isinstance(backend, StateBackend)


async def test_requests_window_admits_limit_then_waits(backend):
    bucket = Bucket("w", "requests", 3, 0.5)
    for i in range(3):
        assert await backend.acquire([bucket], f"m{i}", 0, "cool") == 0
    wait = await backend.acquire([bucket], "m3", 0, "cool")
    assert 0.4 < wait <= 0.5  # all in flight: a whole period at least
    for i in range(3):
        await backend.release([bucket], f"m{i}", 0)
    wait = await backend.acquire([bucket], "m3", 0, "cool")
    assert 0.4 < wait <= 0.5  # completed just now: free in one period
    await asyncio.sleep(wait + 0.01)
    assert await backend.acquire([bucket], "m3", 0, "cool") == 0


async def test_unused_release_gives_the_slot_back(backend):
    bucket = Bucket("u", "requests", 1, 10)
    assert await backend.acquire([bucket], "a", 0, "c") == 0
    await backend.release([bucket], "a", 0, used=False)
    assert await backend.acquire([bucket], "b", 0, "c") == 0


async def test_pacing_spaces_calls(backend):
    bucket = Bucket("p", "requests", 10, 1.0, burst=1)
    assert await backend.acquire([bucket], "a", 0, "c") == 0
    wait = await backend.acquire([bucket], "b", 0, "c")
    assert 0.05 < wait <= 0.1


async def test_token_bucket_and_reconciliation(backend):
    bucket = Bucket("t", "tokens", 100, 1.0)
    assert await backend.acquire([bucket], "a", 80, "c") == 0
    wait = await backend.acquire([bucket], "b", 80, "c")
    assert 0.5 < wait <= 0.62
    await backend.release([bucket], "a", -70)  # used 10, not 80: refund
    assert await backend.acquire([bucket], "b", 80, "c") == 0


async def test_all_or_nothing_across_buckets(backend):
    roomy = Bucket("r1", "requests", 10, 10)
    full = Bucket("r2", "requests", 1, 10)
    assert await backend.acquire([full], "x", 0, "c") == 0
    assert await backend.acquire([roomy, full], "y", 0, "c") > 0
    for i in range(10):  # y took nothing from the roomy bucket
        assert await backend.acquire([roomy], f"z{i}", 0, "c") == 0


async def test_cooldown_and_sync(backend):
    await backend.block("dep", 0.2)
    await backend.block("dep", 0.05)  # never shortens
    assert 0.1 < await backend.acquire([], "m", 0, "dep") <= 0.2
    bucket = Bucket("s", "requests", 10, 5.0)
    await backend.sync(bucket, 0, 0.3)  # provider: empty until 0.3 s from now
    wait = await backend.acquire([bucket], "m", 0, "other")
    assert 0.2 < wait <= 0.3


async def test_records_compare_and_set(backend):
    assert await backend.get("rec") is None
    assert await backend.cas("rec", None, "one", 10)
    assert not await backend.cas("rec", None, "two", 10)
    assert await backend.cas("rec", "one", "two", 10)
    assert await backend.get("rec") == "two"
    assert await backend.cas("short", None, "x", 0.05)
    await asyncio.sleep(0.08)
    assert await backend.get("short") is None


async def test_concurrent_acquires_never_overshoot(backend):
    bucket = Bucket("c", "requests", 25, 30)
    results = await asyncio.gather(
        *(backend.acquire([bucket], f"m{i}", 0, "c") for i in range(200))
    )
    assert sum(1 for r in results if r == 0) == 25


@pytest.mark.redis
async def test_breaker_state_is_shared_through_redis(redis_backend):
    one = Breaker(redis_backend, threshold=2, cooldown=10)
    two = Breaker(redis_backend, threshold=2, cooldown=10)
    await one.record("d", failed=True)
    await two.record("d", failed=True)
    assert await one.state("d") == "open"
    assert not await two.allow("d")


@pytest.mark.redis
async def test_key_eviction_is_shared_through_redis(registry, redis_backend):
    keys = ("sk-shared-one-00000000", "sk-shared-two-00000000")
    async with FakeOpenAIServer(FaultPlan(require_key=keys[1])) as server:
        deployment = Deployment("fake/fake-model", base_url=server.url, api_keys=keys, name="pool")
        config = RouterConfig(models={"k": [deployment]})
        first = Router(config=config, registry=registry, backend=redis_backend)
        await first.achat("k", "hi")  # key one rejected and evicted
        second = Router(config=config, registry=registry, backend=redis_backend)
        for _ in range(3):
            await second.achat("k", "hi")
        used = [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests]
        assert used == [keys[0], keys[1], keys[1], keys[1], keys[1]]


def test_rate_limit_headers_of_openai_and_anthropic():
    openai = rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "1m30s",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "250ms",
        }
    )
    assert openai == {"requests": (500, 499, 90.0), "tokens": (30000, 29000, 0.25)}
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
    anthropic = rate_limit_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "10",
            "anthropic-ratelimit-requests-reset": reset,
        }
    )
    limit, remaining, seconds = anthropic["requests"]
    assert (limit, remaining) == (50, 10)
    assert 28 <= seconds <= 31
    assert rate_limit_headers({"x-ratelimit-remaining-requests": "many"}) == {}


def test_tracker_learns_limits_and_builds_key_buckets():
    tracker = LimitTracker("d", Limits(minute=1.0), Limits(rpm=5))
    assert tracker.buckets(None) == ()
    syncs = tracker.observe(
        {"x-ratelimit-limit-requests": "20", "x-ratelimit-remaining-requests": "19"}, None
    )
    assert tracker.describe() == {"rpm": 20}
    assert [b.key for b, _, _ in syncs] == ["d:rpm"]
    keyed = tracker.buckets("k-1")
    assert [b.key for b in keyed] == ["d:rpm", "d#k-1:rpm"]


@pytest.mark.redis
async def test_a_dead_redis_is_a_typed_error():
    import socket

    from lmux_plug.errors import ProviderError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(ProviderError, match="state backend"):
        await backend.get("x")
    await backend.aclose()
