"""lmux-plug provider plugin for Anthropic's Messages API (``anthropic/<model>``).

Install ``lmux-plug-anthropic`` and ``anthropic/claude-sonnet-4-5`` works through any
lmux-plug registry; the key comes from ``ANTHROPIC_API_KEY``. The wire format lives in
the sans-IO :mod:`lmux_plug_anthropic._codec`, imported on the first call so that
importing the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_anthropic._spec import PRICING_DATE
from lmux_plug_anthropic._spec import SPEC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable
    from collections.abc import Sequence

    from lmux_plug import ChatChunk
    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec

__all__ = [
    "PRICING_DATE",
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_providers",
    "lmux_plug_stream",
    "lmux_plug_wires",
]

# The codec loads on the first call, so plugin discovery stays cheap.
_load_codec = wire.lazy_codec("lmux_plug_anthropic._codec")


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``anthropic`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_wires() -> Sequence[str]:
    """Serve every spec on the ``anthropic`` wire."""
    return [SPEC.wire]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Send one ``POST /v1/messages`` and decode the answer (returns an awaitable)."""
    return wire.send_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one ``POST /v1/messages`` with ``stream: true`` as chunks."""
    return wire.stream_chat(_load_codec(), request, provider)
