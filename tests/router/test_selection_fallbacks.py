"""Selection strategies, tiers, fallback chains and streams."""

from __future__ import annotations

import collections
import random

import pytest

from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.resilience import backoff
from lmux_plug.resilience import retry_wait
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router.selection import order_deployments
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.mock import MockProvider

DEPLOYMENTS = [Deployment(f"p/m{i}", limits=Limits(rpm=r)) for i, r in enumerate((100, 300, 600))]


def test_weighted_order_follows_the_declared_rpm():
    rng = random.Random(7)
    firsts = collections.Counter(
        order_deployments(DEPLOYMENTS, "weighted", rng=rng)[0].model for _ in range(20_000)
    )
    shares = {m: n / 20_000 for m, n in firsts.items()}
    assert shares["p/m0"] == pytest.approx(0.1, abs=0.02)
    assert shares["p/m1"] == pytest.approx(0.3, abs=0.02)
    assert shares["p/m2"] == pytest.approx(0.6, abs=0.02)


def test_sticky_key_always_gets_the_same_order():
    orders = {
        tuple(d.model for d in order_deployments(DEPLOYMENTS, "sticky", sticky_key="user-42"))
        for _ in range(50)
    }
    assert len(orders) == 1
    spread = collections.Counter(
        order_deployments(DEPLOYMENTS, "weighted", sticky_key=f"user-{i}")[0].model
        for i in range(3000)
    )
    assert spread["p/m2"] > spread["p/m1"] > spread["p/m0"] > 0


def test_least_busy_and_lowest_latency():
    busy = {"p/m0": 3, "p/m1": 0, "p/m2": 9}
    order = order_deployments(DEPLOYMENTS, "least-busy", busy=busy.__getitem__)
    assert [d.model for d in order] == ["p/m1", "p/m0", "p/m2"]
    latency = {"p/m0": 0.2, "p/m1": 0.05, "p/m2": 0.0}
    order = order_deployments(DEPLOYMENTS, "lowest-latency", latency=latency.__getitem__)
    assert [d.model for d in order] == ["p/m2", "p/m1", "p/m0"]


def test_backoff_is_jittered_and_capped():
    rng = random.Random(1)
    values = [backoff(3, 0.1, 0.5, rng) for _ in range(200)]
    assert all(0 <= v <= 0.5 for v in values)
    assert len(set(values)) > 150
    error = LmuxError("x", retry_after=100)
    assert retry_wait(error, 0, base=0.1, cap=1, retry_after_cap=7) == 7


async def test_sticky_calls_hit_the_same_server(registry):
    async with FakeOpenAIServer() as a, FakeOpenAIServer() as b, FakeOpenAIServer() as c:
        servers = [a, b, c]
        model = LogicalModel(
            "m", [Deployment("fake/fake-model", base_url=s.url) for s in servers], strategy="sticky"
        )
        router = Router({"m": model}, registry=registry)
        for _ in range(10):
            await router.achat("m", "hi", sticky_key="conversation-1")
        assert sorted(s.stats["requests"] for s in servers) == [0, 0, 10]


async def test_fallback_tier_is_used_only_when_primaries_are_out_of_quota(registry):
    async with FakeOpenAIServer() as primary, FakeOpenAIServer() as backup:
        model = LogicalModel(
            "m",
            [
                Deployment(
                    "fake/fake-model", base_url=primary.url, limits=Limits(rpm=3, minute=60)
                ),
                Deployment("fake/fake-model", base_url=backup.url, tier="fallback"),
            ],
        )
        router = Router({"m": model}, registry=registry)
        for i in range(5):
            await router.achat("m", f"{i}")
        assert primary.stats["requests"] == 3
        assert backup.stats["requests"] == 2


async def test_fallback_models_and_retries_per_call(registry):
    async with (
        FakeOpenAIServer(FaultPlan(faults={"503": 1.0}, retry_after=None)) as bad,
        FakeOpenAIServer() as good,
    ):
        router = Router(
            {
                "bad": [Deployment("fake/fake-model", base_url=bad.url)],
                "good": [Deployment("fake/fake-model", base_url=good.url)],
            },
            config=RouterConfig(backoff_base=0.001, breaker_threshold=100),
            registry=registry,
        )
        response = await router.achat("bad", "hi", fallback_models=["good"], retries=2)
        assert response.content == "echo: hi"
        assert bad.stats["requests"] == 3  # 1 + 2 retries, then the fallback model
        assert [a.error is None for a in response.attempts] == [False, False, False, True]
        with pytest.raises(ProviderError) as info:
            await router.achat("bad", "hi", retries=0)
        assert len(info.value.attempts) == 1


async def test_default_chain_from_the_logical_model(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"500": 1.0})) as bad, FakeOpenAIServer() as good:
        models = {
            "main": LogicalModel(
                "main", [Deployment("fake/fake-model", base_url=bad.url)], fallbacks=["spare"]
            ),
            "spare": [Deployment("fake/fake-model", base_url=good.url)],
        }
        router = Router(config=RouterConfig(models=models, retries=0), registry=registry)
        response = await router.achat("main", "hi")
        assert response.attempts[-1].deployment == f"fake/fake-model@{good.url}"


def _mock_router(registry, handler, **model_settings):
    small, big = MockProvider("small"), MockProvider("big")
    small.handler = handler
    registry.register("small", small)
    registry.register("big", big)
    models = {
        "m": LogicalModel("m", ["small/s"], **model_settings),
        "large": ["big/b"],
    }
    return Router(config=RouterConfig(models=models, retries=0), registry=registry), small, big


async def test_context_window_fallback_moves_to_a_larger_model(registry):
    def too_long(request):
        raise ContextLengthExceededError("prompt is too long", status_code=400)

    router, small, big = _mock_router(registry, too_long, context_fallbacks=["large"])
    response = await router.achat("m", "a very long prompt")
    assert response.content == "mock response"
    assert len(small.calls) == 1
    assert len(big.calls) == 1
    assert isinstance(response.attempts[0].error, ContextLengthExceededError)


async def test_content_filter_fallback_is_opt_in(registry):
    def refuse(request):
        raise ContentFilterError("blocked by safety system", status_code=400)

    router, _small, big = _mock_router(registry, refuse, content_filter_fallbacks=["large"])
    with pytest.raises(ContentFilterError):
        await router.achat("m", "hi")
    assert len(big.calls) == 0
    response = await router.achat("m", "hi", content_filter_fallback=True)
    assert response.content == "mock response"
    assert len(big.calls) == 1


async def test_invalid_requests_are_not_retried_or_fallen_back(registry):
    def bad(request):
        raise InvalidRequestError("bad parameter", status_code=400)

    router, small, big = _mock_router(registry, bad)
    with pytest.raises(InvalidRequestError):
        await router.achat("m", "hi", fallback_models=["large"], retries=3)
    assert len(small.calls) == 1
    assert len(big.calls) == 0


async def test_stream_is_retried_before_the_first_chunk_only(registry):
    server = FakeOpenAIServer()
    server.inject("500")
    async with server:
        router = Router(
            config=RouterConfig(
                models={"m": [Deployment("fake/fake-model", base_url=server.url)]},
                backoff_base=0.001,
            ),
            registry=registry,
        )
        chunks = [c async for c in router.achat_stream("m", "streamed")]
        assert "".join(c.delta for c in chunks) == "echo: streamed"
        assert server.stats["requests"] == 2
        # A stream that breaks after its first chunk is never retried.
        delivered = []

        async def consume():
            stream = router.achat_stream(
                "m", "cut short", extra_headers={"x-fake-fault": "truncate"}
            )
            async for chunk in stream:
                delivered.append(chunk)  # noqa: PERF401 - keep what arrived before the error

        with pytest.raises(ProviderError):
            await consume()
        assert delivered
        assert server.stats["requests"] == 3


async def test_embeddings_go_through_the_router(registry):
    async with FakeOpenAIServer(FaultPlan(faults={"500": 0.5}, seed=3)) as server:
        router = Router(
            config=RouterConfig(
                models={"e": [Deployment("fake/fake-model", base_url=server.url)]},
                retries=10,
                backoff_base=0.001,
            ),
            registry=registry,
        )
        for _ in range(5):
            response = await router.aembed("e", ["one", "three"])
            assert len(response.embeddings) == 2


def test_sync_api(registry):
    router = Router({"m": ["echo/echo-1"]}, registry=registry)
    assert router.chat("m", "sync hi").content == "sync hi"
    assert "".join(c.delta for c in router.chat_stream("m", "a b")) == "a b"
    assert len(router.embed("m", ["x"]).embeddings) == 1
    registry.close()


async def test_stream_tokens_are_reconciled(registry):
    async with FakeOpenAIServer() as server:
        deployment = Deployment(
            "fake/fake-model", base_url=server.url, limits=Limits(tpm=1000, minute=60)
        )
        router = Router({"m": [deployment]}, registry=registry)
        # Each stream is estimated at ~400 tokens but uses ~10: without reconciliation
        # the third one would wait for a minute.
        for _ in range(6):
            chunks = [
                c async for c in router.achat_stream("m", "short", max_tokens=400, deadline=2)
            ]
            assert chunks
        assert server.stats["status_200"] == 6
