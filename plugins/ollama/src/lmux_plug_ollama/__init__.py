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

import attrs

from lmux_plug import EmbeddingResponse, InvalidRequestError, NotFoundError, Usage, hookimpl
from lmux_plug_ollama._spec import FREE, SPEC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Sequence

    from lmux_plug import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        ModelPricing,
        ProviderContext,
        ProviderSpec,
    )
    from lmux_plug.http import HttpResponse

__all__ = [
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_pricing",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

_EMBED_APIS = ("auto", "embed", "embeddings")


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``ollama`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_pricing(provider: ProviderSpec, model: str) -> ModelPricing | None:  # noqa: ARG001
    """Price every model served over the Ollama wire at zero (see ``_spec``)."""
    return FREE if provider.wire == SPEC.wire else None


async def _post(
    provider: ProviderContext,
    path: str,
    body: object,
    *,
    model: str,
    timeout: float | None,
    extra_headers: dict[str, str],
) -> HttpResponse:
    from lmux_plug_ollama._host import normalise_base_url  # noqa: PLC0415 - lazy

    return await provider.transport.request(
        "POST",
        normalise_base_url(provider.base_url) + path,
        headers={**provider.auth_headers(), **extra_headers},
        json_body=body,
        timeout=timeout,
        provider=provider.name,
        model=model,
        secrets=provider.secrets(),
    )


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with ``/api/chat`` (``stream: false``)."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_ollama._codec import decode_chat, encode_chat  # noqa: PLC0415 - lazy codec

    body = encode_chat(request, stream=False)
    response = await _post(
        provider,
        "/api/chat",
        body,
        model=request.model,
        timeout=request.timeout,
        extra_headers=dict(request.extra_headers),
    )
    decoded = decode_chat(
        response.json(provider=provider.name, model=request.model),
        model=request.model,
        provider=provider.name,
    )
    return attrs.evolve(decoded, headers=response.headers)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream ``/api/chat`` as NDJSON."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_ollama._codec import OllamaStreamDecoder, encode_chat  # noqa: PLC0415
    from lmux_plug_ollama._host import normalise_base_url  # noqa: PLC0415 - lazy

    body = encode_chat(request, stream=True)
    response = await provider.transport.stream(
        "POST",
        normalise_base_url(provider.base_url) + "/api/chat",
        headers={**provider.auth_headers(), **request.extra_headers},
        json_body=body,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    decoder = OllamaStreamDecoder(model=request.model, provider=provider.name)
    try:
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
        for chunk in decoder.finish():
            yield chunk
    finally:
        response.close()


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed with ``/api/embed``, or the legacy ``/api/embeddings`` (see ``embed_api``)."""
    return _embed(request, provider)


def _endpoint_missing(error: NotFoundError) -> bool:
    # An unknown *model* is a JSON {"error": "model ... not found"}; an unknown *endpoint*
    # (a server older than /api/embed) is Go's plain-text "404 page not found".
    return "model" not in (error.body or "").lower()


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    from lmux_plug_ollama._codec import decode_embed, encode_embed  # noqa: PLC0415 - lazy codec

    extra = dict(request.extra)
    api = str(extra.pop("embed_api", provider.option("embed_api", "auto")))
    if api not in _EMBED_APIS:
        msg = f"embed_api must be one of {', '.join(_EMBED_APIS)}, got {api!r}"
        raise InvalidRequestError(msg, provider=provider.name, model=request.model)
    request = attrs.evolve(request, extra=extra)
    if api != "embeddings":
        try:
            response = await _post(
                provider,
                "/api/embed",
                encode_embed(request),
                model=request.model,
                timeout=request.timeout,
                extra_headers=dict(request.extra_headers),
            )
        except NotFoundError as exc:
            if api == "embed" or not _endpoint_missing(exc):
                raise
        else:
            decoded = decode_embed(
                response.json(provider=provider.name, model=request.model),
                model=request.model,
                expected=len(request.inputs),
                provider=provider.name,
            )
            return attrs.evolve(decoded, headers=response.headers)
    return await _embed_legacy(request, provider)


async def _embed_legacy(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    from lmux_plug_ollama._codec import (  # noqa: PLC0415 - lazy codec
        decode_legacy_embedding,
        encode_legacy_embedding,
    )

    if request.dimensions is not None:
        msg = "the legacy /api/embeddings endpoint cannot set dimensions"
        raise InvalidRequestError(msg, provider=provider.name, model=request.model)
    vectors = []
    headers: dict[str, str] = {}
    for text in request.inputs:
        response = await _post(
            provider,
            "/api/embeddings",
            encode_legacy_embedding(request, text),
            model=request.model,
            timeout=request.timeout,
            extra_headers=dict(request.extra_headers),
        )
        vectors.append(
            decode_legacy_embedding(
                response.json(provider=provider.name, model=request.model),
                model=request.model,
                provider=provider.name,
            )
        )
        headers = dict(response.headers)
    # The legacy endpoint reports no token counts.
    return EmbeddingResponse(
        embeddings=vectors,
        model=request.model,
        provider=provider.name,
        usage=Usage(),
        headers=headers,
    )
