from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmux_plug import ProviderError
from lmux_plug import Registry
from lmux_plug.testing import MockCall
from lmux_plug.testing import MockProvider
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import provider_spec


def openai_plugin():
    """The OpenAI-wire plugin, needed for the real-socket tests."""
    return pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI server in a thread; parametrize indirectly with a FaultPlan."""
    plan = getattr(request, "param", None) or FaultPlan()
    server = FakeOpenAIServer(plan)
    server.record_requests = False
    with server.run_in_thread() as running:
        yield running


@pytest.fixture
async def fake_registry(fake_server: FakeOpenAIServer) -> AsyncIterator[Registry]:
    """A registry whose ``fake/`` prefix points at the fake server (for async tests)."""
    async with Registry(plugins=[openai_plugin()]) as registry:
        registry.register("fake", provider_spec(), base_url=fake_server.url)
        yield registry
    # The sync API's loops too (after the pools on this loop are closed).
    registry.close()


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    try:
        yield reg
    finally:
        reg.close()


def _failing_mock(fail_every: int = 7, delay: float = 0.0) -> MockProvider:
    """A mock that answers ``ok N`` to ``item N`` and fails when N % fail_every == 0."""

    async def handler(call: MockCall) -> str:
        text = call.messages[-1].content
        if delay:
            await asyncio.sleep(delay)
        number = int(text.rsplit(" ", 1)[-1])
        if number % fail_every == 0:
            raise ProviderError(f"injected failure for {number}", status_code=500)
        return f"ok {number}"

    return MockProvider("mock", handler=handler)


@pytest.fixture
def failing_mock():
    """Factory: ``failing_mock(fail_every=7, delay=0.0)``."""
    return _failing_mock


class Jsonl:
    @staticmethod
    def write(path: Path, rows: list[object]) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    @staticmethod
    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def jsonl() -> type[Jsonl]:
    return Jsonl


@pytest.fixture
def openai_plugin_module():
    return openai_plugin()
