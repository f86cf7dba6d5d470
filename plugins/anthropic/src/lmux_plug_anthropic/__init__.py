"""lmux-plug provider plugin for Anthropic's Messages API (``anthropic/<model>``).

Install ``lmux-plug-anthropic`` and ``anthropic/claude-sonnet-4-5`` works through any
lmux-plug registry; the key comes from ``ANTHROPIC_API_KEY``. Chat is ``POST /v1/messages``
(``stream: true`` for streams). The wire format lives in the sans-IO
:mod:`lmux_plug_anthropic._codec`, imported on the first call so that importing the plugin
stays cheap; the hooks are the core driver's (:mod:`lmux_plug.wire`).
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_anthropic._spec import PRICING_DATE
from lmux_plug_anthropic._spec import SPEC

__all__ = [
    "PRICING_DATE",
    "SPEC",
]

# Serves every spec on the ``anthropic`` wire; no embeddings.
lmux_plug_providers, lmux_plug_wires = wire.spec_hooks(SPEC)
lmux_plug_chat, lmux_plug_stream = wire.codec_hooks("lmux_plug_anthropic._codec")[:2]
