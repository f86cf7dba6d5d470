"""lmux-plug provider plugin for Google Vertex AI (``vertex_ai/<model>``).

Chat calls ``POST {root}/v1/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent``, streams ``:streamGenerateContent?alt=sse``, and embeddings call
``:predict``. The bodies are Gemini's GenerateContent format, encoded and decoded by the
gemini plugin's public codec (:mod:`lmux_plug_gemini.codec`). The token is
``VERTEX_ACCESS_TOKEN`` (or ``api_key=``) or comes from google-auth default credentials;
project and location from ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION`` or the base
URL. Codec and google-auth are imported on the first call, so discovery stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug import LmuxError
from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_vertex_ai._spec import PRICING_DATE
from lmux_plug_vertex_ai._spec import SPEC
from lmux_plug_vertex_ai._spec import TOKEN_ENV

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
    from lmux_plug.http import HttpResponse

__all__ = [
    "CONTRACT",
    "PRICING_DATE",
    "SPEC",
    "TOKEN_ENV",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

#: For the contract suite: the wire is Gemini's, the embed model batches many inputs.
CONTRACT = {"models": {"embed": "text-embedding-005"}}
_EMBED_CONCURRENCY = 8


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``vertex_ai`` provider."""
    return [SPEC]


def _owned(error: LmuxError, provider: ProviderContext) -> LmuxError:
    """Errors raised by the shared Gemini codec name this provider, not ``gemini``."""
    if error.provider in (None, "gemini"):
        error.provider = provider.name
    return error


async def _target(
    request: ChatRequest | EmbeddingRequest, provider: ProviderContext, method: str
) -> tuple[str, dict[str, str]]:
    """The URL of ``method`` for the request's model, and the headers with the token."""
    from lmux_plug_vertex_ai import _auth  # noqa: PLC0415 - lazy
    from lmux_plug_vertex_ai import _urls  # noqa: PLC0415 - lazy

    project = None
    if _urls.needs_project(provider.base_url, request.model):
        project = _urls.project_from_env()
        if project is None and provider.credentials.api_key is None:
            project = await _auth.default_project()
    url = _urls.model_url(
        provider.base_url,
        request.model,
        method,
        project=project,
        location=_urls.location_from_env(),
        options=provider.spec.options,
    )
    headers = {**provider.auth_headers(), **request.extra_headers}
    if provider.credentials.api_key is None:
        headers["authorization"] = f"Bearer {await _auth.access_token()}"
    return url, headers


def _options(
    request: ChatRequest | EmbeddingRequest, provider: ProviderContext, headers: dict[str, str]
) -> dict[str, Any]:
    """The transport's keyword arguments for one call with ``headers``, but the body."""
    token = headers.get("authorization", "").removeprefix("Bearer ")
    return {
        "headers": headers,
        "timeout": request.timeout,
        "provider": provider.name,
        "model": request.model,
        "secrets": (*provider.secrets(), token) if token else provider.secrets(),
    }


async def _post(
    request: ChatRequest | EmbeddingRequest, provider: ProviderContext, method: str, body: Any
) -> HttpResponse:
    from lmux_plug_gemini.codec import refine_error  # noqa: PLC0415 - lazy codec

    url, headers = await _target(request, provider, method)
    try:
        options = _options(request, provider, headers)
        return await provider.transport.request("POST", url, json_body=body, **options)
    except LmuxError as exc:
        raise refine_error(exc) from exc.__cause__


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer with ``generateContent``."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_gemini.codec import decode_chat  # noqa: PLC0415 - lazy codec
    from lmux_plug_gemini.codec import encode_chat  # noqa: PLC0415 - lazy codec

    try:
        body = encode_chat(request)
        response = await _post(request, provider, "generateContent", body)
        decoded = decode_chat(
            response.json(provider=provider.name, model=request.model),
            model=request.model,
            provider=provider.name,
        )
    except LmuxError as exc:
        raise _owned(exc, provider) from exc.__cause__
    return attrs.evolve(decoded, headers=response.headers)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream with ``streamGenerateContent?alt=sse``."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_gemini.codec import GeminiStreamDecoder  # noqa: PLC0415 - lazy codec
    from lmux_plug_gemini.codec import encode_chat  # noqa: PLC0415 - lazy codec
    from lmux_plug_gemini.codec import refine_error  # noqa: PLC0415 - lazy codec

    try:
        body = encode_chat(request)
        url, headers = await _target(request, provider, "streamGenerateContent")
        options = _options(request, provider, {**headers, "accept": "text/event-stream"})
        try:
            response = await provider.transport.stream(
                "POST", url, json_body=body, params={"alt": "sse"}, **options
            )
        except LmuxError as exc:
            raise refine_error(exc) from exc.__cause__
    except LmuxError as exc:
        raise _owned(exc, provider) from exc.__cause__
    decoder = GeminiStreamDecoder(model=request.model, provider=provider.name)
    try:
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
        yield decoder.finish()
    except LmuxError as exc:
        raise _owned(exc, provider) from exc.__cause__
    finally:
        # Also runs when the caller stops early (aclose): the connection is released.
        response.close()


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed through ``:predict`` (one call per 250 texts, or per text for gemini-embedding)."""
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    import functools  # noqa: PLC0415

    from lmux_plug import EmbeddingResponse  # noqa: PLC0415
    from lmux_plug import Usage  # noqa: PLC0415
    from lmux_plug_vertex_ai._embeddings import batches  # noqa: PLC0415 - lazy
    from lmux_plug_vertex_ai._embeddings import decode_predictions  # noqa: PLC0415 - lazy
    from lmux_plug_vertex_ai._embeddings import encode_instances  # noqa: PLC0415 - lazy

    groups = batches(request)
    bodies = [encode_instances(request, texts) for texts in groups]  # bad input: before I/O

    async def one(texts: tuple[str, ...], body: Any) -> tuple[list[Any], int, dict[str, str]]:
        response = await _post(request, provider, "predict", body)
        vectors, tokens = decode_predictions(
            response.json(provider=provider.name, model=request.model),
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
        headers=results[-1][2],
    )
