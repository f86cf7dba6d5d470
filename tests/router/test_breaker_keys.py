"""Circuit breaker transitions and key-pool rotation/eviction, against real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lmux_plug._types import Secret
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.router import Deployment
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import render_stats
from lmux_plug.router.keys import fingerprint
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


def _router(registry, server, **settings):
    deployment = Deployment("fake/fake-model", base_url=server.url, name="d1")
    config = RouterConfig(models={"one": [deployment]}, retries=0, **settings)
    return Router(config=config, registry=registry)


async def test_breaker_opens_half_opens_and_closes(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"500": 1.0})) as server:
        router = _router(
            registry, server, breaker_threshold=3, breaker_cooldown=0.3, breaker_max_cooldown=1.0
        )
        for _ in range(3):
            assert await router.breaker_state("d1") == "closed"
            with pytest.raises(ProviderError):
                await router.achat("one", "hi")
        assert await router.breaker_state("d1") == "open"
        sent = server.stats["requests"]
        with pytest.raises(ProviderError, match="open circuit breaker") as info:
            await router.achat("one", "hi")
        assert server.stats["requests"] == sent  # refused without any I/O
        assert 0 < info.value.retry_after <= 0.3
        await asyncio.sleep(0.32)
        assert await router.breaker_state("d1") == "half-open"
        # A failing probe re-opens it with a doubled cooldown.
        with pytest.raises(ProviderError):
            await router.achat("one", "hi")
        assert server.stats["requests"] == sent + 1
        assert await router.breaker_state("d1") == "open"
        retry_in = await router.breaker.retry_in("d1")
        assert 0.45 < retry_in <= 0.6
        await asyncio.sleep(retry_in + 0.02)
        server.plan.faults = {}
        response = await router.achat("one", "hi")  # the probe succeeds: closed again
        assert response.content == "echo: hi"
        assert await router.breaker_state("d1") == "closed"
        stats = await router.astats()
        assert stats["deployments"]["d1"]["breaker"]["state"] == "closed"
        assert router.stats()["deployments"]["d1"]["breaker"]["state"] == "closed"
        assert "d1" in render_stats(stats)


async def test_cooldown_growth_is_capped(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"503": 1.0}, retry_after=None)) as server:
        router = _router(
            registry, server, breaker_threshold=1, breaker_cooldown=0.05, breaker_max_cooldown=0.12
        )
        cooldowns = []
        for _ in range(4):
            with pytest.raises(ProviderError):
                await router.achat("one", "hi")
            cooldowns.append(await router.breaker.retry_in("d1"))
            await asyncio.sleep(cooldowns[-1] + 0.01)
        assert cooldowns[0] <= 0.05
        assert 0.05 < cooldowns[1] <= 0.1
        assert cooldowns[2] <= 0.12
        assert cooldowns[3] <= 0.12
        assert cooldowns[3] > 0.1


@pytest.mark.parametrize("status", ["400", "401", "403", "404"])
async def test_client_errors_never_trip_the_breaker(registry, status):
    async with FakeOpenAIServer(FaultPlan(faults={status: 1.0})) as server:
        router = _router(registry, server, breaker_threshold=2)
        for _ in range(6):
            with pytest.raises(LmuxError) as info:
                await router.achat("one", "hi")
            assert info.value.status_code == int(status)
        assert server.stats["requests"] == 6
        assert await router.breaker_state("d1") == "closed"


async def test_fallback_tier_takes_over_while_the_primary_breaker_is_open(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"500": 1.0})) as bad, FakeOpenAIServer() as good:
        deployments = [
            Deployment("fake/fake-model", base_url=bad.url, name="primary"),
            Deployment("fake/fake-model", base_url=good.url, name="backup", tier="fallback"),
        ]
        config = RouterConfig(
            models={"m": deployments}, retries=0, breaker_threshold=2, breaker_cooldown=5
        )
        router = Router(config=config, registry=registry)
        for _ in range(2):
            with pytest.raises(ProviderError):
                await router.achat("m", "hi")
        assert good.stats["requests"] == 0  # the fallback tier is not used while a primary is up
        response = await router.achat("m", "hi")
        assert response.attempts[-1].deployment == "backup"
        assert good.stats["status_200"] == 1


LONG_KEYS = (
    "test-key-one-0123456789abcdef",
    "test-key-two-0123456789abcdef",
    "test-key-three-0123456789abc",
)


async def test_key_pool_evicts_rejected_keys_and_logs_without_them(registry, caplog):
    caplog.set_level(logging.WARNING, logger="lmux_plug.router")
    async with FakeOpenAIServer(FaultPlan(require_key=LONG_KEYS[1])) as server:
        deployment = Deployment(
            "fake/fake-model", base_url=server.url, api_keys=LONG_KEYS, name="pool"
        )
        router = Router(
            config=RouterConfig(models={"k": [deployment]}, retries=2), registry=registry
        )
        for i in range(4):
            response = await router.achat("k", f"hi {i}")
            assert response.content == f"echo: hi {i}"
        used = [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests]
        # k1 rejected then k2; k3 rejected then k2; after that only k2.
        assert used == [
            LONG_KEYS[0],
            LONG_KEYS[1],
            LONG_KEYS[2],
            LONG_KEYS[1],
            LONG_KEYS[1],
            LONG_KEYS[1],
        ]
        stats = router.stats()["deployments"]["pool"]["keys"]
        assert stats[fingerprint(Secret(LONG_KEYS[0]))]["evicted"]
        assert stats[fingerprint(Secret(LONG_KEYS[2]))]["evicted"]
        assert not stats[fingerprint(Secret(LONG_KEYS[1]))]["evicted"]
        assert stats[fingerprint(Secret(LONG_KEYS[1]))]["successes"] == 4
    text = caplog.text + render_stats(router.stats()) + repr(router) + repr(deployment)
    assert "evicted" in caplog.text
    for key in LONG_KEYS:
        assert key not in text


async def test_all_keys_dead_raises_authentication_error(registry):
    async with FakeOpenAIServer(FaultPlan(require_key="sk-none-of-them")) as server:
        deployment = Deployment(
            "fake/fake-model", base_url=server.url, api_keys=LONG_KEYS, name="pool"
        )
        router = Router(
            config=RouterConfig(models={"k": [deployment]}, retries=5), registry=registry
        )
        with pytest.raises(AuthenticationError):
            await router.achat("k", "hi")
        assert server.stats["requests"] == 3  # each key tried once
        with pytest.raises(AuthenticationError, match="every API key"):
            await router.achat("k", "hi")
        assert server.stats["requests"] == 3  # no I/O once the pool is empty


async def test_429_rotates_to_the_next_key(registry):
    server = FakeOpenAIServer(FaultPlan(retry_after=5))
    server.inject("429")
    async with server:
        deployment = Deployment(
            "fake/fake-model", base_url=server.url, api_keys=LONG_KEYS[:2], name="pool"
        )
        router = Router(
            config=RouterConfig(models={"k": [deployment]}, retries=1), registry=registry
        )
        response = await router.achat("k", "hi")
    first, second = response.attempts
    assert first.error is not None
    assert first.error.status_code == 429
    assert second.error is None
    assert first.key != second.key
    assert second.wait < 1  # the next key is used at once, not after the 5 s Retry-After
    used = [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests]
    assert used == [LONG_KEYS[0], LONG_KEYS[1]]
    assert router.stats()["deployments"]["pool"]["keys"][first.key]["rate_limited"] == 1
