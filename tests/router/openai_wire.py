"""A tiny in-test plugin for wire "openai" (chat, stream, embed) over the core transport.

The router tests use it against ``FakeOpenAIServer``; it is loaded by path (conftest and
the Redis worker processes), so it does not depend on the real openai plugin's progress.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

from lmux_plug import hookimpl
from lmux_plug._context import ProviderContext
from lmux_plug._sse import SSEDecoder
from lmux_plug._types import (
    ApiKeyAuth,
    Capability,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    ModelSpec,
    ProviderSpec,
    Usage,
)
from lmux_plug.convert import message_to_openai
from lmux_plug.errors import ProviderError

CAPS = frozenset({Capability.CHAT, Capability.STREAM, Capability.EMBED})
SPEC = ProviderSpec(
    name="fake",
    wire="openai",
    base_url="http://127.0.0.1:9/v1",
    auth=ApiKeyAuth(env=("LMUX_TEST_FAKE_KEY",), optional=True),
    capabilities=CAPS,
    models=(ModelSpec("fake-model", capabilities=CAPS, context_window=100),),
)


def _body(request: ChatRequest, *, stream: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "model": request.model,
        "messages": [message_to_openai(m) for m in request.messages],
    }
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _usage(raw: object) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(
        input_tokens=raw.get("prompt_tokens", 0), output_tokens=raw.get("completion_tokens", 0)
    )


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    return [SPEC]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> object:
    return _chat(request, provider)


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    response = await provider.transport.request(
        "POST",
        provider.url("chat/completions"),
        headers={**provider.auth_headers(), **request.extra_headers},
        json_body=_body(request, stream=False),
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    data = response.json(provider=provider.name, model=request.model)
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(
            "malformed answer", provider=provider.name, model=request.model
        ) from exc
    return ChatResponse(
        content=content,
        model=data.get("model", request.model),
        provider=provider.name,
        finish_reason=FinishReason.STOP,
        usage=_usage(data.get("usage")),
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
    )


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    response = await provider.transport.stream(
        "POST",
        provider.url("chat/completions"),
        headers={**provider.auth_headers(), **request.extra_headers},
        json_body=_body(request, stream=True),
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    decoder = SSEDecoder()
    done = False
    try:
        async for raw in response.iter_bytes():
            for event in decoder.feed(raw):
                if event.data == "[DONE]":
                    done = True
                    continue
                data = json.loads(event.data)
                if "error" in data:
                    raise ProviderError(
                        data["error"].get("message", "stream error"), provider=provider.name
                    )
                choices = data.get("choices") or []
                delta = choices[0].get("delta", {}).get("content") or "" if choices else ""
                finish = choices[0].get("finish_reason") if choices else None
                usage = _usage(data["usage"]) if data.get("usage") else None
                yield ChatChunk(
                    delta=delta,
                    finish_reason=FinishReason(finish) if finish else None,
                    usage=usage,
                    model=request.model,
                    provider=provider.name,
                )
    finally:
        response.close()
    if not done:
        raise ProviderError(
            "stream ended without [DONE]", provider=provider.name, model=request.model
        )


@hookimpl
def lmux_plug_embed(request: EmbeddingRequest, provider: ProviderContext) -> object:
    return _embed(request, provider)


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    response = await provider.transport.request(
        "POST",
        provider.url("embeddings"),
        headers=provider.auth_headers(),
        json_body={"model": request.model, "input": list(request.inputs)},
        timeout=request.timeout,
        provider=provider.name,
        model=request.model,
        secrets=provider.secrets(),
    )
    data = response.json(provider=provider.name, model=request.model)
    return EmbeddingResponse(
        embeddings=[tuple(d["embedding"]) for d in data["data"]],
        model=request.model,
        provider=provider.name,
        usage=_usage(data.get("usage")),
        headers=response.headers,
    )
