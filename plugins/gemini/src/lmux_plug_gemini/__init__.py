"""lmux-plug provider plugin for the Google Gemini API (AI Studio keys).

``gemini/<model>`` calls ``POST {base}/v1beta/models/<model>:generateContent``,
``:streamGenerateContent?alt=sse`` and ``:batchEmbedContents`` with the key in the
``x-goog-api-key`` header (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``). The wire format
lives in :mod:`lmux_plug_gemini._codec`; this module only moves bytes through the core's
transport. Importing it is cheap: the codec is imported on the first call and aiohttp
by the transport on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_gemini._spec import SPEC

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
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
    "lmux_plug_wires",
]

# The codec loads on the first call, so plugin discovery stays cheap.
_load_codec = wire.lazy_codec("lmux_plug_gemini._codec")


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``gemini`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_wires() -> Sequence[str]:
    """Serve every spec on the ``gemini`` wire."""
    return [SPEC.wire]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with ``generateContent``."""
    return wire.send_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream with ``streamGenerateContent?alt=sse``."""
    return wire.stream_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed every input with one ``batchEmbedContents`` call."""
    return wire.send_embed(_load_codec(), request, provider)
