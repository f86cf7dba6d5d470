"""OpenTelemetry for every lmux-plug call: a wrapper plugin, GenAI semantic conventions.

Discovered through the ``lmux_plug`` entry point, it implements ``lmux_plug_chat``,
``lmux_plug_stream`` and ``lmux_plug_embed`` with ``wrapper=True``: pluggy runs it around
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

    from lmux_plug import ChatRequest, EmbeddingRequest, ProviderContext

__all__ = [
    "configure",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_stream",
    "reset",
]


def _around(
    operation: str, kind: str, request: Any, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """The body of every wrapper: record around the owner's result, or step aside."""
    active = telemetry()
    try:
        result = yield
    except BaseException as exc:
        if active is not None:
            active.failed_at_once(operation, request, provider, exc)
        raise
    return result if active is None else getattr(active, kind)(result, request, provider)


@hookimpl(wrapper=True)
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Generator[None, Any, Any]:
    """Wrap the owner's awaitable answer in one that records a span and metrics."""
    return (yield from _around("chat", "chat", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> Generator[None, Any, Any]:
    """Wrap the owner's chunk iterator: span, time to first chunk, usage from the end."""
    return (yield from _around("chat", "stream", request, provider))


@hookimpl(wrapper=True)
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Generator[None, Any, Any]:
    """Wrap the owner's awaitable embeddings in one that records a span and metrics."""
    return (yield from _around("embeddings", "embed", request, provider))
