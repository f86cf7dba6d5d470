"""Cache keys (Hypothesis), L1/L2 caching of answers and streams, singleflight."""

from __future__ import annotations

import asyncio

import attrs
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug._types import ChatRequest
from lmux_plug._types import UserMessage
from lmux_plug.router import EXCLUDED_FIELDS
from lmux_plug.router import Deployment
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import request_key
from lmux_plug.router.cache import L1Cache
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.strategies import chat_requests

FIELDS = [f.name for f in attrs.fields(ChatRequest) if f.name not in EXCLUDED_FIELDS]
BASE = ChatRequest(model="m", messages=(UserMessage("hi"),))
CHANGES = {
    "model": "other",
    "messages": (UserMessage("hi!"),),
    "temperature": 0.5,
    "top_p": 0.9,
    "max_tokens": 7,
    "stop": ("x",),
    "seed": 3,
    "tools": None,
    "tool_choice": None,
    "response_format": None,
    "reasoning_effort": "low",
    "user": "u1",
    "extra": {"k": 1},
}


def test_every_field_is_either_keyed_or_explicitly_excluded():
    assert set(FIELDS) | set(EXCLUDED_FIELDS) == {f.name for f in attrs.fields(ChatRequest)}
    for name, value in CHANGES.items():
        if value is None:
            continue
        changed = attrs.evolve(BASE, **{name: value})
        # The model is keyed through the logical name passed alongside the request.
        model = "other" if name == "model" else "m"
        assert request_key("chat", model, changed) != request_key("chat", "m", BASE), name
    for name in EXCLUDED_FIELDS:
        value = 5.0 if name == "timeout" else {"x-trace": "1"}
        assert request_key("chat", "m", attrs.evolve(BASE, **{name: value})) == request_key(
            "chat", "m", BASE
        )


@settings(max_examples=150, deadline=None)
@given(chat_requests(), chat_requests(), st.sampled_from(["chat", "stream"]))
def test_changing_any_keyed_field_changes_the_key(one, two, kind):
    """Build a request that differs from ``one`` in exactly one keyed field, taken from ``two``."""
    for name in FIELDS:
        if name == "model":
            continue
        if getattr(one, name) == getattr(two, name):
            continue
        if name == "extra" and dict(one.extra) == dict(two.extra):
            continue
        mixed = attrs.evolve(one, **{name: getattr(two, name)})
        assert request_key(kind, "m", mixed) != request_key(kind, "m", one), name
    for name in EXCLUDED_FIELDS:
        mixed = attrs.evolve(one, **{name: getattr(two, name)})
        assert request_key(kind, "m", mixed) == request_key(kind, "m", one)
    assert request_key("chat", "m", one) != request_key("stream", "m", one)


def test_l1_is_lru_with_ttl():
    cache = L1Cache(size=2)
    cache.set("a", 1, 60)
    cache.set("b", 2, 60)
    assert cache.get("a") == 1
    cache.set("c", 3, 60)  # evicts b, the least recently used
    assert cache.get("b") is None
    assert cache.get("a") == 1
    cache.set("d", 4, -1)  # already expired
    assert cache.get("d") is None
    assert len(cache) <= 2


async def test_cache_hit_is_marked_and_free(registry):
    async with FakeOpenAIServer() as server:
        config = RouterConfig(
            models={"m": [Deployment("fake/fake-model", base_url=server.url)]}, cache_ttl=60
        )
        router = Router(config=config, registry=registry)
        first = await router.achat("m", "cache me")
        second = await router.achat("m", "cache me")
        other = await router.achat("m", "cache me", temperature=0.5)
        assert server.stats["requests"] == 2
        assert not first.cache_hit
        assert second.cache_hit
        assert second.cost is not None
        assert second.cost.total == 0
        assert second.content == first.content
        assert not other.cache_hit
        nocache = await router.achat("m", "cache me", cache=False)
        assert not nocache.cache_hit
        assert server.stats["requests"] == 3


async def test_streams_are_cached_and_replayed(registry):
    async with FakeOpenAIServer(FaultPlan(stream_chunks=4)) as server:
        config = RouterConfig(
            models={"m": [Deployment("fake/fake-model", base_url=server.url)]}, cache_ttl=60
        )
        router = Router(config=config, registry=registry)
        first = [c async for c in router.achat_stream("m", "stream me")]
        second = [c async for c in router.achat_stream("m", "stream me")]
        assert server.stats["requests"] == 1
        assert "".join(c.delta for c in first) == "echo: stream me"
        assert [c.delta for c in second] == [c.delta for c in first]
        assert any(c.usage is not None for c in second)
        # A non-streamed call is a different cache entry.
        await router.achat("m", "stream me")
        assert server.stats["requests"] == 2


@pytest.mark.redis
async def test_l2_cache_in_redis_is_shared_between_routers(registry, redis_backend):
    async with FakeOpenAIServer() as server:
        config = RouterConfig(
            models={"m": [Deployment("fake/fake-model", base_url=server.url)]}, cache_ttl=60
        )
        one = Router(config=config, registry=registry, backend=redis_backend)
        two = Router(config=config, registry=registry, backend=redis_backend)
        answer = await one.achat("m", "shared")
        hit = await two.achat("m", "shared")
        assert server.stats["requests"] == 1
        assert hit.cache_hit
        assert hit.content == answer.content
        assert hit.usage == answer.usage
        streamed = [c async for c in one.achat_stream("m", "shared stream")]
        replayed = [c async for c in two.achat_stream("m", "shared stream")]
        assert [c.delta for c in replayed] == [c.delta for c in streamed]
        assert server.stats["requests"] == 2


async def test_singleflight_shares_one_upstream_call(registry):
    async with FakeOpenAIServer(FaultPlan(latency=0.2)) as server:
        router = Router(
            {"m": [Deployment("fake/fake-model", base_url=server.url)]}, registry=registry
        )
        answers = await asyncio.gather(
            *(router.achat("m", "same", singleflight=True) for _ in range(10))
        )
        assert server.stats["requests"] == 1
        assert {a.content for a in answers} == {"echo: same"}
        # Different requests are not merged; without opt-in nothing is merged.
        await asyncio.gather(
            router.achat("m", "a", singleflight=True), router.achat("m", "b", singleflight=True)
        )
        assert server.stats["requests"] == 3
        await asyncio.gather(*(router.achat("m", "same") for _ in range(3)))
        assert server.stats["requests"] == 6


async def test_config_singleflight_only_for_deterministic_sampling(registry):
    async with FakeOpenAIServer(FaultPlan(latency=0.2)) as server:
        config = RouterConfig(
            models={"m": [Deployment("fake/fake-model", base_url=server.url)]}, singleflight=True
        )
        router = Router(config=config, registry=registry)
        await asyncio.gather(*(router.achat("m", "q", temperature=0) for _ in range(5)))
        assert server.stats["requests"] == 1
        await asyncio.gather(*(router.achat("m", "q", temperature=0.9) for _ in range(3)))
        assert server.stats["requests"] == 4


async def test_singleflight_shares_errors_too(registry):
    async with FakeOpenAIServer(FaultPlan(latency=0.1, faults={"400": 1.0})) as server:
        router = Router(
            {"m": [Deployment("fake/fake-model", base_url=server.url)]}, registry=registry
        )
        results = await asyncio.gather(
            *(router.achat("m", "bad", singleflight=True) for _ in range(4)), return_exceptions=True
        )
        assert server.stats["requests"] == 1
        assert all(getattr(r, "status_code", None) == 400 for r in results)
