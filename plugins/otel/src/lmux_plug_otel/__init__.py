"""OpenTelemetry for every lmux-plug call: a wrapper plugin, GenAI semantic conventions.

Discovered through the ``lmux_plug`` entry point, it implements every call hook
(``lmux_plug_chat``, ``_stream``, ``_embed``, ``_create_response``, ``_complete``,
``_transcribe`` and their streamed forms) with ``wrapper=True``: pluggy runs it around
the provider plugin that owns each call, so one plugin traces every provider. The owner's
result (an awaitable, or an async iterator for streams) is wrapped in one that records a
span and metrics while the core awaits it.

Importing this module is cheap: ``opentelemetry`` is imported on the first call (see
:mod:`lmux_plug_otel._telemetry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmux_plug import hookimpl
from lmux_plug_otel._telemetry import configure, reset, telemetry

if TYPE_CHECKING:
    from collections.abc import Generator

    from lmux_plug import (
        ChatRequest,
        CompletionRequest,
        EmbeddingRequest,
        ProviderContext,
        ResponseRequest,
        TranscriptionRequest,
    )

__all__ = [
    "configure",
    "lmux_plug_chat",
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
    "lmux_plug_embed",
    "lmux_plug_stream",
    "lmux_plug_transcribe",
    "lmux_plug_transcribe_stream",
    "reset",
]


def _around(
    operation: str, request: Any, provider: ProviderContext, *, streamed: bool = False
) -> Generator[None, Any, Any]:
    """The body of every wrapper: record around the owner's result, or step aside."""
    active = telemetry()
    try:
        result = yield
    except BaseException as exc:
        if active is not None:
            active.failed_at_once(operation, request, provider, exc)
        raise
    if active is None:
        return result
    if streamed:
        return active.stream(operation, result, request, provider)
    return active.call(operation, result, request, provider)


# Operation names: the conventions' well-known ones (a Responses API call is a chat);
# transcription has none, so it gets its own.


@hookimpl(wrapper=True)
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Generator[None, Any, Any]:
    """Wrap the owner's awaitable answer in one that records a span and metrics."""
    return (yield from _around("chat", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> Generator[None, Any, Any]:
    """Wrap the owner's chunk iterator: span, time to first chunk, usage from the end."""
    return (yield from _around("chat", request, provider, streamed=True))


@hookimpl(wrapper=True)
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap the owner's awaitable embeddings in one that records a span and metrics."""
    return (yield from _around("embeddings", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_create_response(
    request: ResponseRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a Responses API call (operation ``chat``)."""
    return (yield from _around("chat", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_create_response_stream(
    request: ResponseRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a streamed Responses API call (operation ``chat``)."""
    return (yield from _around("chat", request, provider, streamed=True))


@hookimpl(wrapper=True)
def lmux_plug_complete(
    request: CompletionRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a text completion (operation ``text_completion``)."""
    return (yield from _around("text_completion", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_complete_stream(
    request: CompletionRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a streamed text completion (operation ``text_completion``)."""
    return (yield from _around("text_completion", request, provider, streamed=True))


@hookimpl(wrapper=True)
def lmux_plug_transcribe(
    request: TranscriptionRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a transcription (operation ``transcription``)."""
    return (yield from _around("transcription", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_transcribe_stream(
    request: TranscriptionRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap a streamed transcription (operation ``transcription``)."""
    return (yield from _around("transcription", request, provider, streamed=True))
