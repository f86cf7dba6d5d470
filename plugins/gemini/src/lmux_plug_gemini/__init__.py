"""lmux-plug provider plugin for the Google Gemini API (AI Studio keys).

``gemini/<model>`` calls ``POST {base}/v1beta/models/<model>:generateContent``,
``:streamGenerateContent?alt=sse`` and ``:batchEmbedContents`` with the key in the
``x-goog-api-key`` header (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``). The wire format
lives in :mod:`lmux_plug_gemini._codec`; this module only moves bytes through the core's
transport. Importing it is cheap: the codec is imported on the first call and aiohttp
by the transport on first use.
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_gemini._spec import SPEC

__all__ = [
    "SPEC",
]

# Serves every spec on the ``gemini`` wire.
lmux_plug_providers, lmux_plug_wires = wire.spec_hooks(SPEC)
lmux_plug_chat, lmux_plug_stream, lmux_plug_embed = wire.codec_hooks("lmux_plug_gemini._codec")
