"""lmux-plug provider plugin for Cohere's v2 API (``cohere/<model>``).

``cohere/command-a-03-2025`` calls ``POST {base}/v2/chat`` (``stream: true`` for streams)
and ``cohere/embed-v4.0`` calls ``POST {base}/v2/embed``, with the key from ``CO_API_KEY``
(or ``COHERE_API_KEY``) as a bearer token. The wire format lives in the sans-IO
:mod:`lmux_plug_cohere._codec`, imported on the first call so that importing the plugin
stays cheap; the hooks are the core driver's (:mod:`lmux_plug.wire`). The spec declares
``max_embed_inputs`` (:data:`MAX_TEXTS_PER_EMBED`), so the core sends longer input lists in
parts of at most that many texts and joins the answers.
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_cohere._spec import DEFAULT_INPUT_TYPE
from lmux_plug_cohere._spec import MAX_TEXTS_PER_EMBED
from lmux_plug_cohere._spec import PRICING_DATE
from lmux_plug_cohere._spec import SPEC

__all__ = [
    "DEFAULT_INPUT_TYPE",
    "MAX_TEXTS_PER_EMBED",
    "PRICING_DATE",
    "SPEC",
]

# Serves its own spec only (no ``lmux_plug_wires``).
lmux_plug_providers = wire.spec_hooks(SPEC).providers
lmux_plug_chat, lmux_plug_stream, lmux_plug_embed = wire.codec_hooks("lmux_plug_cohere._codec")
