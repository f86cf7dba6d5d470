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

from typing import TYPE_CHECKING
from typing import Any

from lmux_plug import hookimpl
from lmux_plug_otel._telemetry import configure
from lmux_plug_otel._telemetry import reset
from lmux_plug_otel._telemetry import telemetry

if TYPE_CHECKING:
    from collections.abc import Generator

    from lmux_plug import ProviderContext

__all__ = [
    "configure",
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


def _wrapper(operation: str, what: str, *, streamed: bool = False) -> Any:
    """A ``wrapper=True`` implementation of one call hook, recording ``operation``."""

    def wrapper(request: Any, provider: ProviderContext) -> Generator[None, Any, Any]:
        return (yield from _around(operation, request, provider, streamed=streamed))

    wrapper.__doc__ = f"Wrap {what}: a span and metrics (operation ``{operation}``)."
    return hookimpl(wrapper=True)(wrapper)


# One per call hook (pluggy finds them by name). Operation names are the conventions'
# well-known ones, a Responses API call being a chat; transcription has none, so its own.
lmux_plug_chat = _wrapper("chat", "a chat call")
lmux_plug_stream = _wrapper("chat", "a streamed chat call", streamed=True)
lmux_plug_embed = _wrapper("embeddings", "an embeddings call")
lmux_plug_create_response = _wrapper("chat", "a Responses API call")
lmux_plug_create_response_stream = _wrapper("chat", "a streamed Responses API call", streamed=True)
lmux_plug_complete = _wrapper("text_completion", "a text completion")
lmux_plug_complete_stream = _wrapper("text_completion", "a streamed text completion", streamed=True)
lmux_plug_transcribe = _wrapper("transcription", "a transcription")
lmux_plug_transcribe_stream = _wrapper("transcription", "a streamed transcription", streamed=True)
