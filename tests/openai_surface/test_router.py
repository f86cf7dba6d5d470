"""The drop-in client and the gateway over the router (lmux_plug.router)."""

from __future__ import annotations

import urllib.request

import openai
import pytest

from lmux_plug import Registry
from lmux_plug.errors import RateLimitError
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.openai import AsyncOpenAI
from lmux_plug.openai import OpenAI
from lmux_plug.testing import MockProvider

router_module = pytest.importorskip("lmux_plug.router", reason="the router is not available")

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def setup():
    registry = Registry()
    primary, backup = MockProvider("primary"), MockProvider("backup")
    registry.register("primary", primary)
    registry.register("backup", backup)
    router = router_module.Router(
        {"fast": ["primary/p1"], "safe": ["backup/b1"]}, registry=registry
    )
    yield router, primary, backup
    registry.close()


def test_logical_name_goes_through_router(setup):
    router, primary, _ = setup
    client = OpenAI(router=router)
    primary.enqueue("routed")
    reply = client.chat.completions.create(model="fast", messages=HI)
    assert reply.choices[0].message.content == "routed"
    assert reply.model == "fast"
    assert primary.last_call.model == "p1"
    assert {"fast", "safe"} <= {m.id for m in client.models.list()}


def test_fallback_models_and_retries_are_passed_to_router(setup):
    router, primary, backup = setup
    client = OpenAI(router=router)
    primary.enqueue(RateLimitError("busy", retry_after=0), RateLimitError("busy", retry_after=0))
    backup.enqueue("from the fallback")
    reply = client.chat.completions.create(
        model="fast", messages=HI, fallback_models=["safe"], retries=1
    )
    assert reply.choices[0].message.content == "from the fallback"
    assert len(primary.calls) == 2
    assert backup.last_call.model == "b1"


async def test_async_stream_through_router(setup):
    router, primary, _ = setup
    primary.enqueue("streamed via router")
    client = AsyncOpenAI(router=router)
    stream = await client.chat.completions.create(model="fast", messages=HI, stream=True)
    assert (
        "".join([c.choices[0].delta.content or "" async for c in stream]) == "streamed via router"
    )
    embedded = await client.embeddings.create(model="fast", input="abc")
    assert embedded.data[0].embedding[0] == 3.0


def test_gateway_over_router(setup):
    router, primary, backup = setup
    with (
        run_in_thread(create_app(router=router)) as url,
        openai.OpenAI(base_url=url, api_key="unused", max_retries=0) as client,
    ):
        primary.enqueue("hello via gateway")
        reply = client.chat.completions.create(model="fast", messages=HI)
        assert reply.choices[0].message.content == "hello via gateway"
        primary.enqueue(RateLimitError("busy", retry_after=0))
        backup.enqueue("gateway fallback")
        reply = client.chat.completions.create(
            model="fast", messages=HI, extra_body={"fallback_models": ["safe"], "retries": 0}
        )
        assert reply.choices[0].message.content == "gateway fallback"
        assert "fast" in [m.id for m in client.models.list()]
        with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'lmux_router_requests_total{deployment="' in text
        assert 'lmux_router_breaker_state{deployment="' in text
        assert 'lmux_router_cache_total{result="hit"} 0' in text
