from __future__ import annotations

from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer


async def test_logical_model_over_two_servers(registry):
    async with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        router = Router(
            {
                "fast": LogicalModel(
                    "fast",
                    [
                        Deployment("fake/fake-model", base_url=one.url),
                        Deployment("fake/fake-model", base_url=two.url),
                    ],
                )
            },
            registry=registry,
        )
        for i in range(20):
            response = await router.achat("fast", f"hello {i}")
            assert response.content == f"echo: hello {i}"
            assert len(response.attempts) == 1
        assert one.stats["status_200"] + two.stats["status_200"] == 20
        assert one.stats["status_200"] > 0
        assert two.stats["status_200"] > 0
