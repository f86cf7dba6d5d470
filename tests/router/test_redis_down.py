"""Issue 12.11: Redis going down mid-run must not fail calls to a healthy upstream.

A real ``redis-server`` (started here on 127.0.0.1, stopped mid-run, started again) backs
the router. ``on_state_error="degrade"`` (the default) keeps every call answered with
local in-memory limits and logs one warning, then goes back to Redis once it answers;
``"fail"`` raises a typed :class:`StateBackendError` instead.
"""

from __future__ import annotations

import logging
import time

import pytest

from lmux_plug.resilience import ManualClock
from lmux_plug.router import Limits
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router.state import RedisBackend
from lmux_plug.router.state import StateBackendError
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from tests.helpers import one_deployment

pytestmark = [pytest.mark.redis]


def _config(server: FakeOpenAIServer, **router: object) -> RouterConfig:
    limits = Limits(rpm=10_000, tpm=10_000_000)
    return one_deployment(server.url, "sk-test-redis-1", name="d", limits=limits, **router)


async def test_redis_down_degrades_to_local_limits_and_recovers(
    redis_process, openai_registry, caplog
):
    caplog.set_level(logging.INFO, logger="lmux_plug.router")
    clock = ManualClock()
    async with FakeOpenAIServer() as server:
        backend = RedisBackend(redis_process.url, prefix=f"down{time.monotonic_ns()}")
        router = Router(
            config=_config(server), registry=openai_registry, backend=backend, clock=clock
        )
        for i in range(5):
            assert (await router.achat("m", f"up {i}")).content == f"echo: up {i}"
        assert router.stats()["state"] == {"degraded": False}

        redis_process.stop()  # mid-run
        answered = [(await router.achat("m", f"down {i}")).content for i in range(20)]
        assert answered == [f"echo: down {i}" for i in range(20)]  # 0 failures
        assert router.stats()["state"] == {"degraded": True}
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # one warning per outage, not one per call
        assert "using local in-memory limits" in warnings[0].getMessage()
        assert "sk-test" not in caplog.text

        redis_process.start()
        clock.advance(5.0)  # past the retry interval: the next call tries Redis again
        assert (await router.achat("m", "back")).content == "echo: back"
        assert router.stats()["state"] == {"degraded": False}
        assert "answers again" in caplog.text
        await router.aclose()


async def test_redis_down_with_fail_raises_a_typed_error(redis_process, openai_registry):
    async with FakeOpenAIServer() as server:
        backend = RedisBackend(redis_process.url, prefix=f"fail{time.monotonic_ns()}")
        router = Router(
            config=_config(server, on_state_error="fail"),
            registry=openai_registry,
            backend=backend,
        )
        assert (await router.achat("m", "up")).content == "echo: up"
        redis_process.stop()
        sent = server.stats["requests"]
        with pytest.raises(StateBackendError, match="redis") as info:
            await router.achat("m", "down")
        assert not info.value.retryable
        assert server.stats["requests"] == sent  # refused before any upstream I/O
        await router.aclose()


def test_on_state_error_is_validated():
    from lmux_plug.errors import ConfigurationError
    from lmux_plug.router.config import parse_config

    with pytest.raises(ConfigurationError, match="on_state_error"):
        parse_config({"router": {"on_state_error": "explode"}}, "lmux.toml")
    models = {"m": {"deployments": ["echo/echo-1"]}}  # a config declares at least one model
    assert (
        parse_config({"router": {"on_state_error": "fail"}, "models": models}).on_state_error
        == "fail"
    )
