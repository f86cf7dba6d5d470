from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from lmux_plug.registry import Registry


@pytest.fixture
def registry(openai_registry: Registry) -> Registry:
    """The router tests' registry: the openai plugin, ``fake/`` for the fake server."""
    return openai_registry


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[object]:
    from lmux_plug.router.state import RedisBackend

    backend = RedisBackend(redis_url, prefix=f"t{time.monotonic_ns()}")
    try:
        yield backend
    finally:
        await backend.flush()
        await backend.aclose()


async def settle() -> None:
    await asyncio.sleep(0)
