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

import attrs

from lmux_plug import LmuxError, hookimpl
from lmux_plug_gemini._spec import SPEC

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
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

API_VERSION = "v1beta"


def _url(provider: ProviderContext, model: str, method: str) -> str:
    from lmux_plug_gemini._codec import model_path  # noqa: PLC0415 - lazy codec

    version = provider.option("api_version", API_VERSION)
    return provider.url(f"{version}/models/{model_path(model)}:{method}")


def _headers(request: ChatRequest | EmbeddingRequest, provider: ProviderContext) -> dict[str, str]:
    return {**provider.auth_headers(), **request.extra_headers}


async def _post(
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    method: str,
    body: object,
) -> HttpResponse:
    """One non-streaming call to ``models/<model>:<method>``, errors refined for Gemini."""
    from lmux_plug_gemini._codec import refine_error  # noqa: PLC0415 - lazy codec

    try:
        return await provider.transport.request(
            "POST",
            _url(provider, request.model, method),
            headers=_headers(request, provider),
            json_body=body,
            params=provider.auth_params() or None,
            timeout=request.timeout,
            provider=provider.name,
            model=request.model,
            secrets=provider.secrets(),
        )
    except LmuxError as exc:
        raise refine_error(exc) from exc.__cause__


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``gemini`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with ``generateContent``."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_gemini._codec import decode_chat, encode_chat  # noqa: PLC0415 - lazy codec

    response = await _post(request, provider, "generateContent", encode_chat(request))
    decoded = decode_chat(
        response.json(provider=provider.name, model=request.model),
        model=request.model,
        provider=provider.name,
    )
    return attrs.evolve(decoded, headers=response.headers)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream with ``streamGenerateContent?alt=sse``."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_gemini._codec import (  # noqa: PLC0415 - lazy codec
        GeminiStreamDecoder,
        encode_chat,
        refine_error,
    )

    body = encode_chat(request)
    params = {"alt": "sse", **provider.auth_params()}
    try:
        response = await provider.transport.stream(
            "POST",
            _url(provider, request.model, "streamGenerateContent"),
            headers=_headers(request, provider),
            json_body=body,
            params=params,
            timeout=request.timeout,
            provider=provider.name,
            model=request.model,
            secrets=provider.secrets(),
        )
    except LmuxError as exc:
        raise refine_error(exc) from exc.__cause__
    decoder = GeminiStreamDecoder(model=request.model, provider=provider.name)
    try:
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
        yield decoder.finish()
    finally:
        response.close()


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed every input with one ``batchEmbedContents`` call."""
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    from lmux_plug_gemini._codec import (  # noqa: PLC0415 - lazy codec
        decode_embeddings,
        encode_embeddings,
    )

    body = encode_embeddings(request)
    response = await _post(request, provider, "batchEmbedContents", body)
    decoded = decode_embeddings(
        response.json(provider=provider.name, model=request.model),
        model=request.model,
        expected=len(request.inputs),
        provider=provider.name,
    )
    return attrs.evolve(decoded, headers=response.headers)
