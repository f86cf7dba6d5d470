"""10,000 calls with 20% injected faults; Retry-After honoured to within 50 ms."""

from __future__ import annotations

import asyncio

import pytest

from lmux_plug import ChatResponse
from lmux_plug import Registry
from lmux_plug.errors import LmuxError
from lmux_plug.errors import RateLimitError
from lmux_plug.resilience.clock import ManualClock
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import provider_spec
from tests.router.virtual_time import LoopClock
from tests.router.virtual_time import run_in_virtual_time

FAULTS = {"429": 0.05, "500": 0.04, "503": 0.03, "529": 0.02, "reset": 0.03, "malformed": 0.03}
TOTAL = 10_000


@pytest.mark.slow
async def test_ten_thousand_calls_with_twenty_percent_faults(registry):
    assert abs(sum(FAULTS.values()) - 0.20) < 1e-9
    servers = [
        FakeOpenAIServer(FaultPlan(faults=FAULTS, retry_after=0.005, retry_after_form="ms", seed=i))
        for i in range(3)
    ]
    for server in servers:
        server.record_requests = False
        await server.start()
    try:
        deployments = [Deployment("fake/fake-model", base_url=s.url) for s in servers]
        config = RouterConfig(
            models={"pool": LogicalModel("pool", deployments)},
            retries=3,
            backoff_base=0.002,
            backoff_max=0.02,
            breaker_threshold=1000,  # this test is about retries, not the breaker
        )
        router = Router(config=config, registry=registry)
        outcomes: dict[int, object] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(TOTAL):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    response = await router.achat("pool", f"request {i}")
                except LmuxError as exc:
                    assert i not in outcomes
                    outcomes[i] = exc
                else:
                    assert i not in outcomes  # never answered twice
                    assert response.content == f"echo: request {i}"
                    outcomes[i] = response

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(64))), 120)
    finally:
        for server in servers:
            await server.stop()
    assert len(outcomes) == TOTAL  # none lost
    successes = [o for o in outcomes.values() if not isinstance(o, LmuxError)]
    failures = [o for o in outcomes.values() if isinstance(o, LmuxError)]
    # Every 200 the servers sent reached exactly one caller (a malformed body is sent
    # with a 200 status too, but it is no answer).
    answers = sum(s.stats["status_200"] - s.stats["fault_malformed"] for s in servers)
    assert answers == len(successes)
    faults = sum(s.stats[f"fault_{name}"] for s in servers for name in FAULTS)
    assert faults > 0.15 * TOTAL
    retried = [o for o in successes if len(o.attempts) > 1]
    assert len(retried) > 0.1 * TOTAL
    for response in successes:
        assert response.attempts[-1].error is None
        assert all(a.error is not None and a.error.retryable for a in response.attempts[:-1])
    for error in failures:  # typed, retryable, and only after the whole budget
        assert error.retryable
        assert len(error.attempts) == 4
    assert len(failures) < 0.01 * TOTAL
    stats = router.stats()["deployments"]
    assert sum(d["retries"] for d in stats.values()) >= len(retried)


@pytest.mark.parametrize(("form", "seconds"), [("seconds", 0.3), ("ms", 0.3), ("http-date", 1.2)])
def test_retry_after_is_honoured_within_50ms(form, seconds):
    # On virtual time (tests/router/virtual_time.py): the gap is the router's wait, not the
    # machine's load.
    plugin = pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")
    server = FakeOpenAIServer(
        FaultPlan(faults={"429": 1.0}, retry_after=seconds, retry_after_form=form)
    )
    arrivals: list[float] = []
    choose = server.choose_fault

    def recording(headers):
        arrivals.append(asyncio.get_running_loop().time())
        fault = choose(headers)
        server.plan.faults = {}  # only the first request is refused
        return fault

    async def call_once() -> ChatResponse:
        server.choose_fault = recording
        async with server, Registry(plugins=[plugin]) as registry:
            registry.register("fake", provider_spec())
            deployment = Deployment("fake/fake-model", base_url=server.url)
            router = Router({"one": [deployment]}, registry=registry, clock=LoopClock())
            return await router.achat("one", "hi", retries=1)

    response = run_in_virtual_time(call_once())
    assert response.content == "echo: hi"
    assert len(arrivals) == 2
    first = response.attempts[0]
    assert isinstance(first.error, RateLimitError)
    honoured = first.error.retry_after
    assert honoured is not None
    if form != "http-date":
        assert abs(honoured - seconds) < 0.01
    gap = arrivals[1] - arrivals[0]
    assert honoured - 0.005 <= gap <= honoured + 0.05, (gap, honoured)
    assert abs(response.attempts[1].wait - honoured) < 0.05


async def test_retry_after_is_capped(registry):
    server = FakeOpenAIServer(FaultPlan(retry_after=30))
    server.inject("503")
    async with server:
        config = RouterConfig(
            models={"one": [Deployment("fake/fake-model", base_url=server.url)]},
            retry_after_cap=0.2,
        )
        clock = ManualClock()
        router = Router(config=config, registry=registry, clock=clock)
        response = await router.achat("one", "hi")
    assert response.attempts[0].error.retry_after == 30
    # The server asked for 30 s; the cap is 0.2 s.
    assert clock.slept == [pytest.approx(0.2)]
    assert response.attempts[1].wait == pytest.approx(0.2)


async def test_deadline_bounds_the_whole_call(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"500": 1.0})) as server:
        config = RouterConfig(
            models={"one": [Deployment("fake/fake-model", base_url=server.url)]},
            retries=1000,
            backoff_base=0.05,
            backoff_max=0.05,
            breaker_threshold=10_000,
        )
        clock = ManualClock()
        router = Router(config=config, registry=registry, clock=clock)
        with pytest.raises(LmuxError) as info:
            await router.achat("one", "hi", deadline=0.5)
        assert info.value.status_code == 500
        # Time moves only by the backoffs here (each at most 50 ms): the call stopped when
        # the 0.5 s deadline was used up, where 1000 retries would have gone on.
        assert 0.45 <= sum(clock.slept) <= 0.5
        assert 1 < len(info.value.attempts) < 1000
