"""lmux-plug provider plugin for Cohere's v2 API (``cohere/<model>``).

``cohere/command-a-03-2025`` calls ``POST {base}/v2/chat`` (``stream: true`` for streams)
and ``cohere/embed-v4.0`` calls ``POST {base}/v2/embed``, with the key from ``CO_API_KEY``
(or ``COHERE_API_KEY``) as a bearer token. The wire format lives in the sans-IO
:mod:`lmux_plug_cohere._codec`, imported on the first call so that importing the plugin
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_cohere._spec import DEFAULT_INPUT_TYPE
from lmux_plug_cohere._spec import MAX_TEXTS_PER_EMBED
from lmux_plug_cohere._spec import PRICING_DATE
from lmux_plug_cohere._spec import SPEC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable
    from collections.abc import Sequence

    from lmux_plug import ChatChunk
    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import EmbeddingRequest
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec

__all__ = [
    "DEFAULT_INPUT_TYPE",
    "MAX_TEXTS_PER_EMBED",
    "PRICING_DATE",
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

# The codec loads on the first call, so plugin discovery stays cheap.
_load_codec = wire.lazy_codec("lmux_plug_cohere._codec")


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``cohere`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with one ``POST /v2/chat``."""
    return wire.send_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one ``POST /v2/chat`` with ``stream: true`` (SSE) as chunks."""
    return wire.stream_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed with one ``POST /v2/embed``.

    The spec declares ``max_embed_inputs`` (:data:`MAX_TEXTS_PER_EMBED`), so the core sends
    longer lists in parts of at most that many texts and joins the answers.
    """
    return wire.send_embed(_load_codec(), request, provider)
