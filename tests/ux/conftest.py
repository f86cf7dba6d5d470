"""Fixtures shared by the user-side tests of issue 15."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-format server on 127.0.0.1 (faults injected per test, short Retry-After)."""
    with FakeOpenAIServer(FaultPlan(retry_after=0.01)).run_in_thread() as running:
        yield running
