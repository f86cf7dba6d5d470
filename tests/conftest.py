"""Fixtures shared by the test directories."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lmux_plug import Registry
from lmux_plug.testing.fake_openai import provider_spec


@pytest.fixture
async def openai_registry() -> AsyncIterator[Registry]:
    """The real openai plugin, with ``fake/`` registered for the fake OpenAI server.

    Calls pass the server's URL (``base_url=server.url`` or a deployment's ``base_url``).
    """
    plugin = pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")
    registry = Registry(plugins=[plugin])
    registry.register("fake", provider_spec())
    try:
        yield registry
    finally:
        await registry.aclose()
