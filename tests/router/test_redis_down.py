"""Issue 12.11: Redis going down mid-run must not fail calls to a healthy upstream.

A real ``redis-server`` (started here on 127.0.0.1, stopped mid-run, started again) backs
the router. ``on_state_error="degrade"`` (the default) keeps every call answered with
local in-memory limits and logs one warning, then goes back to Redis once it answers;
``"fail"`` raises a typed :class:`StateBackendError` instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from lmux_plug.resilience import ManualClock
from lmux_plug.router import Deployment, Limits, LogicalModel, Router, RouterConfig
from lmux_plug.router.state import RedisBackend, StateBackendError
from lmux_plug.testing.fake_openai import FakeOpenAIServer

pytestmark = [pytest.mark.redis]


class RedisProcess:
    """A redis-server on a fixed free port that the test can stop and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("LMUX_REQUIRE_REDIS") == "1":
            pytest.fail("LMUX_REQUIRE_REDIS=1 but no redis-server binary on PATH")
        pytest.skip("redis-server is not installed (set LMUX_REQUIRE_REDIS=1 to make this fail)")
    redis = RedisProcess(binary)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def _config(server: FakeOpenAIServer, **router: object) -> RouterConfig:
    deployment = Deployment(
        "openai/fake-model",
        base_url=server.url,
        name="d",
        api_keys=("sk-test-redis-1",),
        limits=Limits(rpm=10_000, tpm=10_000_000),
    )
    return RouterConfig(models={"m": LogicalModel("m", [deployment])}, **router)


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
