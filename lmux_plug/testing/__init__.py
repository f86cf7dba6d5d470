"""Test support for applications and plugin authors: the mock provider and fixtures.

``MockProvider`` is a plugin with every capability, scripted by a queue or a handler, that
records every call. The pytest plugin (loaded automatically through the ``pytest11`` entry
point) provides the ``lmux_registry`` and ``lmux_mock`` fixtures.
"""

from __future__ import annotations

from lmux_plug.testing.mock import MockCall, MockExhaustedError, MockProvider

__all__ = ["MockCall", "MockExhaustedError", "MockProvider"]
