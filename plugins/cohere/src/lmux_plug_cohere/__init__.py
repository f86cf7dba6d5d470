"""lmux-plug provider plugin for Cohere's v2 API (``cohere/<model>``).

``cohere/command-a-03-2025`` calls ``POST {base}/v2/chat`` (``stream: true`` for streams)
and ``cohere/embed-v4.0`` calls ``POST {base}/v2/embed``, with the key from ``CO_API_KEY``
(or ``COHERE_API_KEY``) as a bearer token. The wire format lives in the sans-IO
:mod:`lmux_plug_cohere._codec`, imported on the first call so that importing the plugin
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from lmux_plug import hookimpl
from lmux_plug_cohere._spec import DEFAULT_INPUT_TYPE, MAX_TEXTS_PER_EMBED, PRICING_DATE, SPEC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Sequence

    from lmux_plug import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        EmbeddingResponse,
        ProviderContext,
        ProviderSpec,
    )
    from lmux_plug.http import HttpResponse

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

_CHAT_PATH = "v2/chat"
_EMBED_PATH = "v2/embed"


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``cohere`` provider."""
    return [SPEC]


def _headers(request: ChatRequest | EmbeddingRequest, provider: ProviderContext) -> dict[str, str]:
    return {**provider.auth_headers(), **request.extra_headers}


async def _post(
    request: ChatRequest | EmbeddingRequest, provider: ProviderContext, path: str, body: Any
) -> HttpResponse:
    return await provider.transport.request(
        "POST",
        provider.url(path),
        headers=_headers(request, provider),
        json_body=body,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with one ``POST /v2/chat``."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_cohere._codec import decode_chat, encode_chat  # noqa: PLC0415 - lazy codec

    response = await _post(request, provider, _CHAT_PATH, encode_chat(request))
    decoded = decode_chat(
        response.json(provider=provider.name, model=request.model),
        model=request.model,
        provider=provider.name,
    )
    return attrs.evolve(decoded, headers=response.headers)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one ``POST /v2/chat`` with ``stream: true`` (SSE) as chunks."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_cohere._codec import (  # noqa: PLC0415 - lazy codec
        CohereStreamDecoder,
        encode_chat,
    )

    body = {**encode_chat(request), "stream": True}
    response = await provider.transport.stream(
        "POST",
        provider.url(_CHAT_PATH),
        headers={**_headers(request, provider), "accept": "text/event-stream"},
        json_body=body,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    decoder = CohereStreamDecoder(model=request.model, provider=provider.name)
    try:
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
            decoder.raise_pending()  # an error event after those chunks
            if decoder.done:
                break
        for chunk in decoder.finish():
            yield chunk
    finally:
        # Also runs when the caller stops early (aclose): the connection is released.
        response.close()


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed with ``POST /v2/embed``, at most :data:`MAX_TEXTS_PER_EMBED` texts a call."""
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    from lmux_plug_cohere._codec import (  # noqa: PLC0415 - lazy codec
        decode_embeddings,
        encode_embeddings,
    )

    parts: list[EmbeddingResponse] = []
    headers: dict[str, str] = {}
    for start in range(0, len(request.inputs), MAX_TEXTS_PER_EMBED):
        texts = request.inputs[start : start + MAX_TEXTS_PER_EMBED]
        response = await _post(request, provider, _EMBED_PATH, encode_embeddings(request, texts))
        headers = dict(response.headers)
        parts.append(
            decode_embeddings(
                response.json(provider=provider.name, model=request.model),
                model=request.model,
                expected=len(texts),
                provider=provider.name,
            )
        )
    first = parts[0]
    if len(parts) == 1:
        return attrs.evolve(first, headers=headers)
    usage = first.usage
    for part in parts[1:]:
        usage += part.usage
    return attrs.evolve(
        first,
        embeddings=[vector for part in parts for vector in part.embeddings],
        usage=usage,
        headers=headers,
    )
