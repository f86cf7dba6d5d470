"""Test support for applications and plugin authors: the mock provider and fixtures.

``MockProvider`` is a plugin with every capability, scripted by a queue or a handler, that
records every call. The pytest plugin (loaded automatically through the ``pytest11`` entry
point) provides the ``lmux_registry`` and ``lmux_mock`` fixtures. For tests over a real
socket, :mod:`lmux_plug.testing.wire_server` is the one fake HTTP server (scripted replies,
recorded requests, faults) and :mod:`lmux_plug.testing.fake_openai` its OpenAI configuration.
"""

from __future__ import annotations

from lmux_plug.testing.mock import MockCall
from lmux_plug.testing.mock import MockExhaustedError
from lmux_plug.testing.mock import MockProvider

__all__ = ["MockCall", "MockExhaustedError", "MockProvider"]
