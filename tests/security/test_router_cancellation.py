"""Issue 12.9: cancelled calls release every rate-limit slot, in-flight count and probe.

1,000 router calls over real sockets are cancelled at random points (``asyncio.wait_for``
with a random timeout, or ``task.cancel()`` after a random delay): while waiting for
capacity, while connecting, while the server is answering, while holding a half-open
breaker's probe. Afterwards nothing is held: no in-flight slot in any bucket, no in-flight
count, no taken probe, and the deployment serves calls again at once.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from lmux_plug.errors import LmuxError
from lmux_plug.router import Limits
from lmux_plug.router import Router
from lmux_plug.router.state import MemoryBackend
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from tests.helpers import one_deployment

CANCELLATIONS = 1000


def _held(backend: MemoryBackend) -> int:
    return sum(len(w.inflight) for w in backend._windows.values())


async def _arrival(server: FakeOpenAIServer, seen: int) -> None:
    """Return once the server has received more than ``seen`` requests (bounded wait)."""
    for _ in range(400):
        if server.stats["requests"] > seen:
            return
        await asyncio.sleep(0.005)


async def _cancel_randomly(
    router: Router, server: FakeOpenAIServer, rng: random.Random, count: int
) -> int:
    """Start ``count`` calls, cancel each at a random point; return how many were cut.

    A fifth of them are cut only once a request has reached the server, so that however
    slow the machine, some calls are always cut while the server is answering.
    """
    cut = 0

    async def one(i: int) -> None:
        nonlocal cut
        call = router.achat("m", f"c{i}", deadline=5.0)
        mode = rng.random()
        try:
            if mode < 0.4:
                await asyncio.wait_for(call, rng.uniform(0.0, 0.03))
            else:
                task = asyncio.ensure_future(call)
                if mode < 0.8:
                    await asyncio.sleep(rng.uniform(0.0, 0.03))
                else:
                    await _arrival(server, server.stats["requests"])
                    await asyncio.sleep(rng.uniform(0.0, 0.005))
                task.cancel()
                await task
        except (asyncio.CancelledError, asyncio.TimeoutError):
            cut += 1
        except LmuxError:
            pass  # an injected fault or an open breaker: an outcome, not a cancellation

    for start in range(0, count, 50):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 50, count))))
    return cut


async def test_a_thousand_random_cancellations_leak_nothing(openai_registry):
    rng = random.Random(12)
    # A slow server with some failures, so that calls are cut in every phase and the
    # breaker keeps opening and probing.
    plan = FaultPlan(latency=0.01, faults={"500": 0.1}, seed=9)
    async with FakeOpenAIServer(plan) as server:
        server.record_requests = False
        config = one_deployment(
            server.url,
            "sk-test-cancel-1",
            name="d",
            limits=Limits(rpm=30, minute=0.2),  # small: callers queue for capacity
            retries=1,
            backoff_base=0.001,
            backoff_max=0.005,
            breaker_threshold=4,
            breaker_cooldown=0.01,
            breaker_max_cooldown=0.02,
        )
        router = Router(config=config, registry=openai_registry)
        backend = router.backend
        assert isinstance(backend, MemoryBackend)
        cut = await _cancel_randomly(router, server, rng, CANCELLATIONS)
        assert cut >= CANCELLATIONS // 2  # most calls really were cut mid-way
        assert server.stats["requests"] >= 20  # and many reached the server first
        await asyncio.sleep(0.05)  # let aborted connections finish closing
        assert _held(backend) == 0
        assert router.stats()["deployments"]["d"]["inflight"] == 0
        assert await router.probe_slots("d") == 0
        # The deployment is usable at once: no slot, count or probe was left behind.
        server.plan = FaultPlan()
        await asyncio.sleep(0.05)  # the breaker's cooldown (at most 0.02 s) passes
        for i in range(5):
            response = await asyncio.wait_for(router.achat("m", f"after {i}", deadline=2.0), 2.0)
            assert response.content == f"echo: after {i}"
        assert await router.breaker_state("d") == "closed"


async def test_a_cancelled_probe_is_given_back(openai_registry):
    """The exact case of the report: a cancelled half-open probe must not wedge the breaker."""
    plan = FaultPlan(faults={"500": 1.0})
    async with FakeOpenAIServer(plan) as server:
        config = one_deployment(
            server.url,
            "sk-test-probe-1",
            name="d",
            retries=0,
            breaker_threshold=1,
            breaker_cooldown=0.05,
        )
        router = Router(config=config, registry=openai_registry)
        with pytest.raises(LmuxError):
            await router.achat("m", "x")
        assert await router.breaker_state("d") == "open"
        await asyncio.sleep(0.06)
        server.plan = FaultPlan(faults={"timeout": 1.0})  # the probe hangs
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(router.achat("m", "probe"), 0.2)
        assert await router.breaker_state("d") == "half-open"
        assert await router.probe_slots("d") == 0
        server.plan = FaultPlan()
        response = await asyncio.wait_for(router.achat("m", "next", deadline=1.0), 1.0)
        assert response.content == "echo: next"
        assert await router.breaker_state("d") == "closed"


async def test_cancelled_callers_do_not_block_a_rate_limited_deployment_forever(
    openai_registry,
):
    """5 cancelled calls on an rpm=5 deployment: the window frees once it has passed."""
    async with FakeOpenAIServer(FaultPlan(faults={"timeout": 1.0})) as server:
        config = one_deployment(
            server.url, "sk-test-rpm-1", name="d", limits=Limits(rpm=5, minute=0.3)
        )
        router = Router(config=config, registry=openai_registry)
        tasks = [asyncio.ensure_future(router.achat("m", f"hang {i}")) for i in range(5)]
        await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert _held(router.backend) == 0  # type: ignore[arg-type]
        server.plan = FaultPlan()
        response = await asyncio.wait_for(router.achat("m", "free", deadline=2.0), 2.0)
        assert response.content == "echo: free"
