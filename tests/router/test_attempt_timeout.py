"""Issue 12.10: a per-attempt timeout cuts a hung attempt, which is retried elsewhere."""

from __future__ import annotations

import pytest

from lmux_plug.errors import TimeoutError
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import load_config
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


def _deployment(server: FakeOpenAIServer, name: str, **kwargs: object) -> Deployment:
    return Deployment(
        "openai/fake-model", base_url=server.url, name=name, api_keys=("sk-test-1",), **kwargs
    )


async def test_a_hung_attempt_is_cut_and_retried_on_another_deployment(openai_registry):
    async with (
        FakeOpenAIServer(FaultPlan(faults={"timeout": 1.0})) as hung,
        FakeOpenAIServer() as healthy,
    ):
        config = RouterConfig(
            models={
                "m": LogicalModel(
                    "m", [_deployment(hung, "hung"), _deployment(healthy, "ok")], strategy="sticky"
                )
            },
            attempt_timeout=0.2,
            deadline=30.0,
            retries=2,
        )
        router = Router(config=config, registry=openai_registry)
        # Warm up (the plugin's first call imports its codec): the cut is what is timed.
        await openai_registry.achat(
            "openai/fake-model", "warm", base_url=healthy.url, api_key="sk-test-1"
        )
        # Find a sticky key whose order tries the hung deployment first.
        key = next(
            k
            for k in (f"user-{i}" for i in range(200))
            if router._plan.target("m").tiers[0].order("sticky", sticky_key=k)[0].id == "hung"
        )
        response = await router.achat("m", "hi", sticky_key=key)
        assert response.content == "echo: hi"
        assert [a.deployment for a in response.attempts] == ["hung", "ok"]
        cut = response.attempts[0].error
        assert isinstance(cut, TimeoutError)
        # The attempt's own 0.2 s cut it (not the 30 s deadline, which would end the call).
        assert "attempt timed out after 0.200s" in str(cut)
        assert response.attempts[0].latency >= 0.2


async def test_attempt_timeout_per_deployment_and_per_call(openai_registry):
    async with FakeOpenAIServer(FaultPlan(faults={"timeout": 1.0})) as hung:
        config = RouterConfig(
            models={"m": LogicalModel("m", [_deployment(hung, "hung", attempt_timeout=0.1)])},
            attempt_timeout=5.0,  # the deployment's own 0.1 s wins
            retries=1,
            backoff_base=0.001,
            deadline=30.0,
        )
        router = Router(config=config, registry=openai_registry)
        with pytest.raises(TimeoutError) as info:
            await router.achat("m", "hi")
        assert [a.deployment for a in info.value.attempts] == ["hung", "hung"]
        for attempt in info.value.attempts:
            assert "attempt timed out after 0.100s" in str(attempt.error)
        # Per call: overrides both.
        with pytest.raises(TimeoutError) as info:
            await router.achat("m", "hi", attempt_timeout=0.05, retries=0)
        assert len(info.value.attempts) == 1
        assert "attempt timed out after 0.050s" in str(info.value.attempts[0].error)


async def test_streams_and_embeddings_honour_the_attempt_timeout(openai_registry):
    async with FakeOpenAIServer(FaultPlan(faults={"timeout": 1.0})) as hung:
        config = RouterConfig(
            models={"m": LogicalModel("m", [_deployment(hung, "hung")])},
            attempt_timeout=0.1,
            retries=0,
        )
        router = Router(config=config, registry=openai_registry)
        with pytest.raises(TimeoutError):
            async for _ in router.achat_stream("m", "hi"):
                pass
        with pytest.raises(TimeoutError):
            await router.aembed("m", ["a"])


def test_attempt_timeout_from_toml(tmp_path):
    path = tmp_path / "lmux.toml"
    path.write_text(
        """
[router]
attempt_timeout = 2.5

[[models.fast.deployments]]
model = "openai/gpt-4o-mini"
attempt_timeout = 0.5
""",
        "utf-8",
    )
    config = load_config(path)
    assert config.attempt_timeout == 2.5
    assert config.models["fast"].deployments[0].attempt_timeout == 0.5
