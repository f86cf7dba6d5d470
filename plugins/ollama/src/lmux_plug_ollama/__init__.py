"""lmux-plug provider plugin for Ollama's native API.

``ollama/<model>`` calls ``POST {base}/api/chat`` (JSON, or NDJSON when streaming) and
``POST {base}/api/embed`` (falling back to the legacy ``/api/embeddings`` on servers that
predate it). The base URL is ``http://localhost:11434``, or ``OLLAMA_HOST`` (``host``,
``host:port`` or a URL), or ``registry.configure("ollama", base_url=...)``. No key is
needed locally; ``OLLAMA_API_KEY`` is sent as a bearer token when set (ollama.com).
Importing this module is cheap: the codec is imported on the first call and aiohttp by
the transport on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import cast

from lmux_plug import NotFoundError
from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_ollama._spec import FREE
from lmux_plug_ollama._spec import SPEC

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from collections.abc import Callable

    from lmux_plug import EmbeddingRequest
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ModelPricing
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec
    from lmux_plug_ollama._codec import OllamaCodec

__all__ = [
    "SPEC",
]

# Serves every spec on the ``ollama`` wire: ``/api/chat`` (JSON, or NDJSON when streaming).
lmux_plug_providers, lmux_plug_wires = wire.spec_hooks(SPEC)
lmux_plug_chat, lmux_plug_stream = wire.codec_hooks("lmux_plug_ollama._codec")[:2]
# The codec loads on the first call, so plugin discovery stays cheap.
_load_codec = cast("Callable[[], OllamaCodec]", wire.lazy_codec("lmux_plug_ollama._codec"))


@hookimpl
def lmux_plug_pricing(provider: ProviderSpec, model: str) -> ModelPricing | None:  # noqa: ARG001
    """Price every model served over the Ollama wire at zero (see ``_spec``)."""
    return FREE if provider.wire == SPEC.wire else None


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed with ``/api/embed``, or the legacy ``/api/embeddings`` (see ``embed_api``)."""
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    codec = _load_codec()
    api, request = codec.embed_api(request, provider)
    if api != "embeddings":
        try:
            return await wire.send_embed(codec, request, provider)
        except NotFoundError as exc:
            if api == "embed" or not codec.endpoint_missing(exc):
                raise
    calls = codec.encode_legacy_embeds(request, provider)  # servers older than /api/embed
    responses = [await wire.send(codec, call, request, provider) for call in calls]
    return codec.decode_legacy_embeds(responses, request, provider)
