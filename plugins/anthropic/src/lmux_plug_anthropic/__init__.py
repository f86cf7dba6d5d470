"""lmux-plug provider plugin for Anthropic's Messages API (``anthropic/<model>``).

Install ``lmux-plug-anthropic`` and ``anthropic/claude-sonnet-4-5`` works through any
lmux-plug registry; the key comes from ``ANTHROPIC_API_KEY``. The wire format lives in
the sans-IO :mod:`lmux_plug_anthropic._codec`, imported on the first call so that
importing the plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from lmux_plug import hookimpl
from lmux_plug_anthropic._spec import PRICING_DATE, SPEC

if TYPE_CHECKING:
    from lmux_plug import ChatChunk, ChatRequest, ChatResponse, ProviderContext, ProviderSpec

__all__ = [
    "PRICING_DATE",
    "SPEC",
    "lmux_plug_chat",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

_MESSAGES_PATH = "v1/messages"


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``anthropic`` provider."""
    return [SPEC]


def _headers(request: ChatRequest, provider: ProviderContext) -> dict[str, str]:
    from lmux_plug_anthropic._codec import required_betas  # noqa: PLC0415 - lazy codec

    headers = provider.auth_headers()
    betas = required_betas(request)
    if betas:
        present = headers.get("anthropic-beta")
        headers["anthropic-beta"] = ",".join([present, *betas] if present else betas)
    headers.update(request.extra_headers)
    return headers


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Send one ``POST /v1/messages`` and decode the answer (returns an awaitable)."""
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    from lmux_plug_anthropic import _codec  # noqa: PLC0415 - lazy codec

    body = _codec.encode_chat(request, provider.spec)
    response = await provider.transport.request(
        "POST",
        provider.url(_MESSAGES_PATH),
        headers=_headers(request, provider),
        json_body=body,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    payload: Any = response.json(provider=provider.name, model=request.model)
    return _codec.decode_chat(
        payload,
        response.headers,
        json_tool=_codec.json_tool_name(request),
        provider=provider.name,
        model=request.model,
    )


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one ``POST /v1/messages`` with ``stream: true`` as chunks."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug_anthropic import _codec  # noqa: PLC0415 - lazy codec

    body = _codec.encode_chat(request, provider.spec)
    body["stream"] = True
    response = await provider.transport.stream(
        "POST",
        provider.url(_MESSAGES_PATH),
        headers={**_headers(request, provider), "accept": "text/event-stream"},
        json_body=body,
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    try:
        decoder = _codec.StreamDecoder(
            provider=provider.name,
            model=request.model,
            request_id=response.headers.get("request-id"),
            json_tool=_codec.json_tool_name(request),
        )
        async for data in response.iter_bytes():
            for chunk in decoder.feed_bytes(data):
                yield chunk
            decoder.raise_pending()  # an error event: no need to wait for more bytes
            if decoder.done:
                break
        for chunk in decoder.close():
            yield chunk
    finally:
        # Also runs when the caller stops early (aclose): the connection is released.
        response.close()
