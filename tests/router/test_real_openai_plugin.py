"""The router over the real openai plugin (``lmux_plug_openai``) and the fake server."""

from __future__ import annotations

from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import Quota


async def test_limits_learnt_through_the_real_plugin(openai_registry):
    async with FakeOpenAIServer(FaultPlan(quota=Quota(3, 1.0))) as server:
        deployment = Deployment(
            "openai/gpt-4o-mini",
            base_url=server.url,
            api_keys=("sk-test-abc",),
            limits=Limits(minute=1.0),
        )
        router = Router({"m": [deployment]}, registry=openai_registry)
        await router.achat("m", "first")  # teaches the router the limit (3 per window)
        for i in range(5):
            response = await router.achat("m", f"hi {i}")
            assert response.content == f"echo: hi {i}"
        chunks = [c.delta async for c in router.achat_stream("m", "stream")]
        assert "".join(chunks) == "echo: stream"
        assert server.stats["status_429"] == 0
        stats = router.stats()["deployments"][deployment.id]
        assert stats["limits"] == {"rpm": 3}
        assert stats["cost"] > 0  # priced by the plugin's table


async def test_key_eviction_through_the_real_plugin(openai_registry):
    async with FakeOpenAIServer(FaultPlan(require_key="sk-test-good-0001")) as server:
        deployment = Deployment(
            "openai/gpt-4o-mini",
            base_url=server.url,
            api_keys=("sk-test-bad-0001", "sk-test-good-0001"),
        )
        router = Router({"m": [deployment]}, registry=openai_registry)
        for _ in range(3):
            assert (await router.achat("m", "hi")).content == "echo: hi"
        assert server.stats["status_401"] == 1
