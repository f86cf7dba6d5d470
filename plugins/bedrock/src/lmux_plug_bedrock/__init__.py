"""lmux-plug provider plugin for Amazon Bedrock (``bedrock/<modelId>``).

Chat goes through ``POST /model/{modelId}/converse`` and streams through
``/converse-stream`` (AWS event-stream frames); embeddings through
``/model/{modelId}/invoke`` with the model family's body (Titan, Cohere). Requests carry a
Bedrock API key as a bearer token when one is given (``AWS_BEARER_TOKEN_BEDROCK`` or
``api_key=``) and are signed with SigV4 otherwise. botocore (signing, credential chain,
event-stream framing) and the codec are imported on the first call, so discovering the
plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import attrs

from lmux_plug import LmuxError
from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_bedrock._spec import BEARER_ENV
from lmux_plug_bedrock._spec import DEFAULT_INPUT_TYPE
from lmux_plug_bedrock._spec import PRICING_DATE
from lmux_plug_bedrock._spec import SPEC

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable
    from collections.abc import Callable
    from collections.abc import Sequence

    from lmux_plug import ChatChunk
    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import EmbeddingRequest
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec
    from lmux_plug.http import HttpResponse
    from lmux_plug.http import StreamingResponse

__all__ = [
    "BEARER_ENV",
    "CONTRACT",
    "DEFAULT_INPUT_TYPE",
    "PRICING_DATE",
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

T = TypeVar("T")

#: For the contract suite: certify embeddings with a batching (Cohere-family) model.
CONTRACT = {"models": {"embed": "cohere.embed-english-v3"}}
_EMBED_CONCURRENCY = 8  # Titan embeds one text per call: a few calls in flight at once


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``bedrock`` provider."""
    return [SPEC]


def _base_url(provider: ProviderContext) -> str:
    base = provider.base_url
    if "{region}" in base:
        from lmux_plug_bedrock._auth import region_for  # noqa: PLC0415 - lazy

        base = base.replace("{region}", region_for(provider.spec.options))
    return base


async def _prepared(
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    action: str,
    body: Any,
    accept: str,
) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """URL, headers (bearer or SigV4) and the secrets to scrub, for one POST."""
    from lmux_plug_bedrock._codec import model_path  # noqa: PLC0415 - lazy codec

    url = f"{_base_url(provider).rstrip('/')}/model/{model_path(request.model)}/{action}"
    headers = {"content-type": "application/json", "accept": accept, **request.extra_headers}
    if provider.credentials.api_key is not None:
        return url, {**headers, **provider.auth_headers()}, provider.secrets()
    from lmux_plug_bedrock import _auth  # noqa: PLC0415 - lazy: botocore

    keys = await _auth.resolve_keys()
    region = _auth.region_for(provider.spec.options)
    import json  # noqa: PLC0415 - lazy: keeps plugin discovery cheap

    # Signed over exactly the bytes the transport sends for ``json_body`` (json.dumps).
    signed = _auth.sign(keys, region, url, json.dumps(body).encode(), headers)
    return url, signed, (*provider.secrets(), *keys.secrets())


async def _send(
    send: Callable[..., Awaitable[T]],
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    action: str,
    body: Any,
    *,
    accept: str,
) -> T:
    """One signed POST through ``send`` (the transport's ``request`` or ``stream``)."""
    from lmux_plug_bedrock._errors import refine_error  # noqa: PLC0415 - lazy

    url, headers, secrets = await _prepared(request, provider, action, body, accept)
    try:
        return await send(
            "POST",
            url,
            headers=headers,
            json_body=body,
            timeout=request.timeout,
            provider=provider.name,
            model=request.model,
            secrets=secrets,
        )
    except LmuxError as exc:
        raise refine_error(exc) from exc.__cause__


async def _post(
    request: ChatRequest | EmbeddingRequest, provider: ProviderContext, action: str, body: Any
) -> HttpResponse:
    return await _send(
        provider.transport.request, request, provider, action, body, accept="application/json"
    )


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with one ``converse`` call."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_bedrock._codec import decode_converse  # noqa: PLC0415
    from lmux_plug_bedrock._codec import encode_converse  # noqa: PLC0415

    response = await _post(request, provider, "converse", encode_converse(request))
    decoded = decode_converse(
        response.json(provider=provider.name, model=request.model),
        response.headers,
        model=request.model,
        provider=provider.name,
    )
    return attrs.evolve(decoded, headers=response.headers)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one ``converse-stream`` call (AWS event-stream frames) as chunks."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_bedrock._codec import ConverseStreamDecoder  # noqa: PLC0415 - lazy codec
    from lmux_plug_bedrock._codec import encode_converse  # noqa: PLC0415 - lazy codec

    response: StreamingResponse = await _send(
        provider.transport.stream,
        request,
        provider,
        "converse-stream",
        encode_converse(request),
        accept="application/vnd.amazon.eventstream",
    )
    try:
        decoder = ConverseStreamDecoder(
            model=request.model,
            provider=provider.name,
            request_id=response.headers.get("x-amzn-requestid"),
        )
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
            decoder.raise_pending()  # an exception frame after those chunks
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
    """Embed through ``invoke`` with the model family's body (Titan: a call per text)."""
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    import functools  # noqa: PLC0415

    from lmux_plug import EmbeddingResponse  # noqa: PLC0415
    from lmux_plug import Usage  # noqa: PLC0415
    from lmux_plug_bedrock._embeddings import batches  # noqa: PLC0415 - lazy
    from lmux_plug_bedrock._embeddings import decode_vectors  # noqa: PLC0415 - lazy
    from lmux_plug_bedrock._embeddings import encode_batch  # noqa: PLC0415 - lazy

    groups = batches(request)
    bodies = [encode_batch(request, texts) for texts in groups]  # bad input fails before I/O

    async def one(texts: tuple[str, ...], body: Any) -> tuple[list[Any], int, dict[str, str]]:
        response = await _post(request, provider, "invoke", body)
        vectors, tokens = decode_vectors(
            response.json(provider=provider.name, model=request.model),
            response.headers,
            model=request.model,
            expected=len(texts),
        )
        return vectors, tokens, dict(response.headers)

    calls = [functools.partial(one, t, b) for t, b in zip(groups, bodies, strict=True)]
    results = await wire.gather_limited(calls, _EMBED_CONCURRENCY)  # a failure stops the rest
    return EmbeddingResponse(
        embeddings=[vector for vectors, _, _ in results for vector in vectors],
        model=request.model,
        provider=provider.name,
        usage=Usage(input_tokens=sum(tokens for _, tokens, _ in results)),
        request_id=results[-1][2].get("x-amzn-requestid"),
        headers=results[-1][2],
    )
