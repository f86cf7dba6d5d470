"""The I/O half of the Responses, completion and transcription APIs over the core transport.

Imported lazily by the hook implementations. Each function builds the body with its sans-IO
codec, sends it through ``provider.transport`` (pooled connections, timeouts, error mapping,
key scrubbing) and decodes the answer; streams release their connection when closed early.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug import wire
from lmux_plug_openai._client import endpoint
from lmux_plug_openai._completions_codec import CompletionStreamDecoder
from lmux_plug_openai._completions_codec import decode_completion
from lmux_plug_openai._completions_codec import encode_completion
from lmux_plug_openai._responses_codec import ResponseStreamDecoder
from lmux_plug_openai._responses_codec import decode_response
from lmux_plug_openai._responses_codec import encode_response
from lmux_plug_openai._transcription_codec import TranscriptionStreamDecoder
from lmux_plug_openai._transcription_codec import decode_transcription
from lmux_plug_openai._transcription_codec import encode_transcription

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Callable
    from collections.abc import Mapping

    from lmux_plug import CompletionChunk
    from lmux_plug import CompletionRequest
    from lmux_plug import CompletionResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ResponseChunk
    from lmux_plug import ResponseRequest
    from lmux_plug import ResponseResponse
    from lmux_plug import TranscriptionChunk
    from lmux_plug import TranscriptionRequest
    from lmux_plug import TranscriptionResponse
    from lmux_plug.wire import ChunkDecoder
    from lmux_plug.wire import WireStream

__all__ = [
    "complete",
    "complete_stream",
    "create_response",
    "create_response_stream",
    "transcribe",
    "transcribe_stream",
]

_Answer = TypeVar("_Answer")  # what a decode function of one API returns
_Chunk = TypeVar("_Chunk")  # what a stream decoder of one API yields


def _responses_endpoint(provider: ProviderContext, model: str) -> tuple[str, dict[str, str]]:
    """``{base}/responses``; Azure serves the Responses API at ``{base}/openai/v1/responses``."""
    if provider.option("url_style") == "azure":
        _, params = endpoint(provider, model, "chat")  # checks the endpoint is configured
        params.pop("api-version", None)
        return provider.url("openai/v1/responses"), params
    return provider.url("responses"), provider.auth_params()


def _headers(provider: ProviderContext, extra: Mapping[str, str], *, accept: str) -> dict[str, str]:
    headers = provider.auth_headers()
    headers["accept"] = accept
    headers.update(extra)
    return headers


async def _post(
    provider: ProviderContext,
    url: str,
    params: dict[str, str],
    request: Any,
    *,
    stream: bool,
    json_body: Any = None,
    content: bytes | None = None,
    content_type: str | None = None,
) -> Any:
    headers = _headers(
        provider,
        request.extra_headers,
        accept="text/event-stream" if stream else "application/json",
    )
    if content_type is not None:
        headers["content-type"] = content_type
    send = provider.transport.stream if stream else provider.transport.request
    return await send(
        "POST",
        url,
        headers=headers,
        json_body=json_body,
        content=content,
        params=params or None,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )


def _decoding(provider: ProviderContext, request: Any) -> dict[str, Any]:
    """What every decoder here is told: who answered, for which model, which secrets to scrub."""
    return {"provider": provider.name, "model": request.model, "secrets": provider.secrets()}


async def _call(
    provider: ProviderContext,
    url: str,
    params: dict[str, str],
    request: Any,
    decode: Callable[..., _Answer],
    **body: Any,
) -> _Answer:
    """POST ``body`` and return what ``decode`` makes of the whole answer."""
    response = await _post(provider, url, params, request, stream=False, **body)
    return decode(response.body, response.headers, **_decoding(provider, request))


def _stream(
    provider: ProviderContext,
    url: str,
    params: dict[str, str],
    request: Any,
    decoder_class: Callable[..., ChunkDecoder[_Chunk]],
    **body: Any,
) -> AsyncIterator[_Chunk]:
    """POST ``body`` for a stream; yield the chunks ``decoder_class`` decodes from the answer.

    The connection is released however the iteration ends (early close included).
    """

    async def opened() -> WireStream:
        stream: WireStream = await _post(provider, url, params, request, stream=True, **body)
        return stream

    def decoder(headers: Mapping[str, str]) -> ChunkDecoder[_Chunk]:
        return decoder_class(headers=headers, **_decoding(provider, request))

    return wire.decoded_stream(opened, decoder)


# --------------------------------------------------------------------------- Responses
# The streaming functions are async generators: the endpoint is checked and the body
# encoded when the iteration starts, as for chat streams.


async def create_response(request: ResponseRequest, provider: ProviderContext) -> ResponseResponse:
    """One ``POST /responses`` call."""
    url, params = _responses_endpoint(provider, request.model)
    body = encode_response(request)
    return await _call(provider, url, params, request, decode_response, json_body=body)


async def create_response_stream(
    request: ResponseRequest, provider: ProviderContext
) -> AsyncIterator[ResponseChunk]:
    """One streamed ``POST /responses`` call."""
    url, params = _responses_endpoint(provider, request.model)
    body = encode_response(request, stream=True)
    async for chunk in _stream(
        provider, url, params, request, ResponseStreamDecoder, json_body=body
    ):
        yield chunk


# --------------------------------------------------------------------------- completions


async def complete(request: CompletionRequest, provider: ProviderContext) -> CompletionResponse:
    """One ``POST /completions`` call."""
    url, params = endpoint(provider, request.model, "complete")
    body = encode_completion(request, provider.spec.options)
    return await _call(provider, url, params, request, decode_completion, json_body=body)


async def complete_stream(
    request: CompletionRequest, provider: ProviderContext
) -> AsyncIterator[CompletionChunk]:
    """One streamed ``POST /completions`` call."""
    url, params = endpoint(provider, request.model, "complete")
    body = encode_completion(request, provider.spec.options, stream=True)
    async for chunk in _stream(
        provider, url, params, request, CompletionStreamDecoder, json_body=body
    ):
        yield chunk


# --------------------------------------------------------------------------- transcription


async def transcribe(
    request: TranscriptionRequest, provider: ProviderContext
) -> TranscriptionResponse:
    """One multipart ``POST /audio/transcriptions`` upload."""
    url, params = endpoint(provider, request.model, "transcribe")
    content, content_type = encode_transcription(request)
    decode = functools.partial(decode_transcription, response_format=request.response_format)
    return await _call(
        provider, url, params, request, decode, content=content, content_type=content_type
    )


async def transcribe_stream(
    request: TranscriptionRequest, provider: ProviderContext
) -> AsyncIterator[TranscriptionChunk]:
    """One streamed transcription (``stream=true``; gpt-4o-transcribe and later)."""
    url, params = endpoint(provider, request.model, "transcribe")
    content, content_type = encode_transcription(request, stream=True)
    async for chunk in _stream(
        provider,
        url,
        params,
        request,
        TranscriptionStreamDecoder,
        content=content,
        content_type=content_type,
    ):
        yield chunk
