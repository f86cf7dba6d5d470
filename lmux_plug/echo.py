"""The built-in offline provider ``echo/``: deterministic, no key, no network.

``echo/<anything>`` answers with the text of the last user message; ``echo/reverse``
answers with it reversed. Token counts are ``ceil(characters / 4)`` per text, so usage
and cost are stable. Embeddings are unit vectors derived from a hash of each text.
It exists so the README's first command works anywhere, and as a reference plugin.
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Sequence

from lmux_plug._context import ProviderContext
from lmux_plug._pricing import ModelPricing
from lmux_plug._types import (
    Capability,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    Message,
    ModelSpec,
    ProviderSpec,
    TextContent,
    Usage,
    UserMessage,
)
from lmux_plug.hookspecs import hookimpl

__all__ = ["SPEC"]

_FREE = ModelPricing(input=0, output=0)
_CAPS = frozenset({Capability.CHAT, Capability.STREAM, Capability.EMBED})
SPEC = ProviderSpec(
    name="echo",
    wire="echo",
    base_url="memory://echo",
    capabilities=_CAPS,
    models=(
        ModelSpec("echo-1", capabilities=_CAPS, pricing=_FREE, context_window=1_000_000),
        ModelSpec("reverse", capabilities=_CAPS, pricing=_FREE, context_window=1_000_000),
    ),
    description="built-in offline echo provider (no key, no network)",
)
DEFAULT_DIMENSIONS = 8


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(message: Message) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(p.text for p in content if isinstance(p, TextContent))


def _answer(request: ChatRequest) -> tuple[str, Usage, FinishReason]:
    last = next((m for m in reversed(request.messages) if isinstance(m, UserMessage)), None)
    text = "" if last is None else _text(last)
    if request.model == "reverse":
        text = text[::-1]
    finish = FinishReason.STOP
    if request.max_tokens is not None and len(text) > request.max_tokens * 4:
        text, finish = text[: request.max_tokens * 4], FinishReason.LENGTH
    prompt = sum(_tokens(_text(m)) for m in request.messages)
    return text, Usage(input_tokens=prompt, output_tokens=_tokens(text)), finish


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``echo`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    """Echo the last user message (returned through an awaitable)."""
    return _chat(request, provider)  # type: ignore[return-value]


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    text, usage, finish = _answer(request)
    return ChatResponse(
        content=text,
        model=request.model,
        provider=provider.name,
        finish_reason=finish,
        usage=usage,
    )


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream the echo word by word, then one terminal chunk with usage."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    text, usage, finish = _answer(request)
    words = text.split(" ")
    for i, word in enumerate(words):
        piece = word if i == len(words) - 1 else word + " "
        if piece:
            yield ChatChunk(delta=piece, model=request.model, provider=provider.name)
    yield ChatChunk(
        finish_reason=finish,
        usage=usage,
        model=request.model,
        provider=provider.name,
    )


def _vector(text: str, dimensions: int) -> tuple[float, ...]:
    import hashlib  # noqa: PLC0415 - only embeddings need it; keeps start-up fast

    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw[: dimensions * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(v / norm for v in values)


@hookimpl
def lmux_plug_embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    """One deterministic unit vector per input (awaitable)."""
    return _embed(request, provider)  # type: ignore[return-value]


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    dimensions = request.dimensions or DEFAULT_DIMENSIONS
    return EmbeddingResponse(
        embeddings=[_vector(text, dimensions) for text in request.inputs],
        model=request.model,
        provider=provider.name,
        usage=Usage(input_tokens=sum(_tokens(t) for t in request.inputs)),
    )
