"""pytest fixtures for applications that use lmux-plug (loaded via ``pytest11``).

* ``lmux_registry``: a fresh :class:`~lmux_plug.Registry` (built-ins only, no installed
  plugins, no network) that also stands in for the module-level API
  (``lmux_plug.chat`` ...) for the duration of the test.
* ``lmux_mock``: a :class:`~lmux_plug.testing.MockProvider` registered in that registry
  under the prefix ``mock``: ``lmux_plug.chat("mock/any-model", ...)`` reaches it.
  ``lmux_mock.intercept("openai/*")`` sends another prefix to it as well. Answers come
  from ``enqueue(...)`` or a ``handler``; a call with nothing scripted raises
  :class:`~lmux_plug.testing.mock.MockExhaustedError`, and the test fails at teardown even
  if the application swallowed that error (``lmux_mock.default = "..."`` opts out;
  ``lmux_mock.reset()`` forgets dry calls a test provoked on purpose).

Applications may also import them explicitly:
``from lmux_plug.testing.pytest_plugin import lmux_mock, lmux_registry``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import lmux_plug
from lmux_plug.registry import Registry
from lmux_plug.testing.mock import NO_DEFAULT
from lmux_plug.testing.mock import MockProvider

__all__ = ["lmux_mock", "lmux_registry"]


@pytest.fixture
def lmux_registry() -> Iterator[Registry]:
    """An isolated registry, installed as the default for the module-level functions."""
    registry = Registry()
    previous = lmux_plug._default  # noqa: SLF001 - the fixture owns the swap
    lmux_plug._default = registry  # noqa: SLF001
    try:
        yield registry
    finally:
        lmux_plug._default = previous  # noqa: SLF001
        registry.close()


@pytest.fixture
def lmux_mock(lmux_registry: Registry) -> Iterator[MockProvider]:
    """A mock provider under ``mock/`` in the isolated registry; running dry fails the test."""
    mock = MockProvider("mock", default=NO_DEFAULT)
    lmux_registry.register("mock", mock)
    mock._registry = lmux_registry  # noqa: SLF001 - what intercept() registers into
    yield mock
    if mock.dry_calls:
        pytest.fail(
            f"lmux_mock ran dry {mock.dry_calls} time(s): calls reached it with nothing "
            "scripted (enqueue() answers, set a handler, or set lmux_mock.default)",
            pytrace=False,
        )
