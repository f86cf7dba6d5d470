"""The I/O half: drive the sans-IO codec over the core's pooled transport.

Imported lazily by the hook implementations, so ``import lmux_plug_openai`` (plugin
discovery) never loads the codec or the HTTP client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import quote

from lmux_plug.errors import ConfigurationError
from lmux_plug_openai._codec import (
    ChatStreamDecoder,
    _decode_chat,
    _lower,
    decode_embed,
    encode_chat,
    encode_embed,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from lmux_plug._context import ProviderContext
    from lmux_plug._types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        EmbeddingResponse,
    )

__all__ = ["chat", "embed", "endpoint", "stream"]

_PATHS = {
    "chat": "chat/completions",
    "embed": "embeddings",
    "complete": "completions",
    "transcribe": "audio/transcriptions",
}
_DEFAULT_AZURE_API_VERSION = "2024-10-21"


def endpoint(provider: ProviderContext, model: str, kind: str) -> tuple[str, dict[str, str]]:
    """Return the URL and query parameters of one call (``kind`` as in ``_PATHS``).

    Plain endpoints append ``chat/completions`` / ``embeddings`` to the base URL. Azure
    (``options["url_style"] == "azure"``) puts the model id (the deployment name) in the path
    and the API version in ``api-version``.
    """
    path = _PATHS[kind]
    params = provider.auth_params()
    if provider.option("url_style") != "azure":
        return provider.url(path), params
    base = provider.base_url
    if "{" in base:
        env = provider.spec.base_url_env or "the provider's base-URL variable"
        msg = (
            f"{provider.name!r} needs its endpoint: set {env} "
            f"(e.g. https://my-resource.openai.azure.com) or pass base_url="
        )
        raise ConfigurationError(msg, provider=provider.name, model=model)
    version_env = provider.option("api_version_env")
    version = (os.environ.get(str(version_env)) if version_env else None) or str(
        provider.option("api_version", _DEFAULT_AZURE_API_VERSION)
    )
    deployment = quote(model, safe="")
    url = provider.url(f"openai/deployments/{deployment}/{path}")
    return url, {**params, "api-version": version}


def _headers(
    provider: ProviderContext, extra: Mapping[str, str], *, stream: bool
) -> dict[str, str]:
    headers = provider.auth_headers()
    headers["accept"] = "text/event-stream" if stream else "application/json"
    headers.update(extra)
    return headers


async def chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    """One non-streamed Chat Completions call."""
    url, params = endpoint(provider, request.model, "chat")
    body = encode_chat(request, provider.spec)
    secrets = provider.secrets()
    response = await provider.transport.request(
        "POST",
        url,
        headers=_headers(provider, request.extra_headers, stream=False),
        json_body=body,
        params=params or None,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=secrets,
    )
    headers = response.headers
    return _decode_chat(
        response.body,
        # The core transport hands over a plain dict with lower-case names (its contract),
        # so only another Mapping type is copied and lower-cased here.
        headers if type(headers) is dict else _lower(headers),
        provider=provider.name,
        model=request.model,
        options=provider.spec.options,
        secrets=secrets,
    )


async def stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """One streamed Chat Completions call; closing the iterator releases the connection."""
    url, params = endpoint(provider, request.model, "chat")
    body = encode_chat(request, provider.spec, stream=True)
    secrets = provider.secrets()
    response = await provider.transport.stream(
        "POST",
        url,
        headers=_headers(provider, request.extra_headers, stream=True),
        json_body=body,
        params=params or None,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=secrets,
    )
    decoder = ChatStreamDecoder(
        provider=provider.name,
        model=request.model,
        headers=response.headers,
        options=provider.spec.options,
        secrets=secrets,
    )
    try:
        # Read to the end even after [DONE]: a fully read body lets the connection go back
        # to the pool instead of being dropped.
        async for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                yield chunk
        for chunk in decoder.close():
            yield chunk
    finally:
        response.close()


async def embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    """One embeddings call; vectors come back in input order."""
    url, params = endpoint(provider, request.model, "embed")
    body = encode_embed(request, provider.spec)
    response = await provider.transport.request(
        "POST",
        url,
        headers=_headers(provider, request.extra_headers, stream=False),
        json_body=body,
        params=params or None,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    return decode_embed(
        response.body,
        response.headers,
        provider=provider.name,
        model=request.model,
        expected=len(request.inputs),
    )
