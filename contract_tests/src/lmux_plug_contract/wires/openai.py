"""OpenAI Chat Completions wire (and every OpenAI-compatible endpoint).

The format lives in :mod:`lmux_plug.testing.wire_formats`, because the fake OpenAI server
renders with it too: one rendering of the wire for both.
"""

from __future__ import annotations

from lmux_plug.testing.wire_formats import OpenAIWire

__all__ = ["OpenAIWire"]
