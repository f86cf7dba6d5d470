# mypy: disable-error-code="empty-body"
"""The hook specification: what a plugin may implement.

A plugin declares providers as data (:func:`lmux_plug_providers`) and implements the five
call hooks for the wires it speaks, plus the hooks of the APIs it serves beyond chat and
embeddings (Responses, text completions, transcription). The core calls the owning plugin's
implementation directly (plus every ``wrapper=True`` implementation around it); no
implementation needs to check whether a call is "for it".

pluggy is synchronous. The call hooks therefore *return* an awaitable (chat, embed) or an
async iterator (stream) and the core awaits it; a wrapper sees that object as the result
of ``yield`` and may return a wrapped one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionRequest
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseRequest
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._api_types import TranscriptionChunk
    from lmux_plug._api_types import TranscriptionRequest
    from lmux_plug._api_types import TranscriptionResponse
    from lmux_plug._context import ProviderContext
    from lmux_plug._pricing import ModelPricing
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import Credentials
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug._types import ProviderSpec

__all__ = [
    "hookimpl",
    "hookspec",
    "lmux_plug_auth",
    "lmux_plug_chat",
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
    "lmux_plug_embed",
    "lmux_plug_pricing",
    "lmux_plug_providers",
    "lmux_plug_stream",
    "lmux_plug_transcribe",
    "lmux_plug_transcribe_stream",
    "lmux_plug_wires",
]

PROJECT = "lmux_plug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the providers this plugin serves, as data.

    :return: ``ProviderSpec`` values. Each ``name`` becomes a model prefix. A plugin that
        implements the call hooks serves the specs it declares; a spec declared as data
        alone (by a data-only plugin or ``Registry.register``) is served by the plugin that
        owns its ``wire`` (see :func:`lmux_plug_wires`).

    Called once per registry when the plugin is loaded. Results of every plugin are
    collected; a plugin that raises or returns something other than specs is reported as
    broken and skipped.
    """


@hookspec
def lmux_plug_wires() -> Sequence[str]:
    """Declare the wires whose calls this plugin serves, for every spec of that wire.

    :return: wire names (``"openai"``, ``"anthropic"`` ...). A spec with one of these wires
        declared by anyone (a data-only plugin, ``Registry.register``) is served by this
        plugin's call hooks. Each wire has one owner: a second plugin declaring the same
        wire is reported as broken (naming both plugins) and skipped, whatever the load
        order. Disable one of them (``LMUX_PLUG_DISABLE``) to choose.

    A plugin that implements the call hooks without declaring a wire serves the specs it
    declares itself, and nothing else.
    """


@hookspec(firstresult=True)
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Answer one chat request.

    :param request: the typed request; ``request.model`` has the provider prefix removed.
    :param provider: the spec, base URL, resolved credentials and shared HTTP transport.
    :return: an awaitable resolving to a ``ChatResponse`` with ``usage`` set. The core
        fills in ``cost`` from :func:`lmux_plug_pricing` when the plugin leaves it ``None``.

    Only the owning plugin's implementation and wrapper implementations are called.
    Errors must be ``LmuxError`` subclasses (see :mod:`lmux_plug.errors`).
    """


@hookspec(firstresult=True)
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream one chat request.

    :return: an async iterator of ``ChatChunk``. Exactly one chunk carries
        ``finish_reason``; ``usage`` rides on that terminal chunk or on the last one.
        Closing the iterator early must release the HTTP connection.
    """


@hookspec(firstresult=True)
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embed ``request.inputs``; the result holds one vector per input, in input order."""


@hookspec(firstresult=True)
def lmux_plug_pricing(provider: ProviderSpec, model: str) -> ModelPricing | None:
    """Return the price of ``model`` at ``provider``, or ``None`` when unknown.

    The core's own implementation (``trylast``) reads the prices declared in the spec.
    A pricing plugin marked ``tryfirst`` overrides it for the models it knows.
    """


@hookspec(firstresult=True)
def lmux_plug_auth(provider: ProviderSpec) -> Credentials | None:
    """Return credentials for ``provider``, or ``None`` to let the next implementation try.

    The core's own implementation (``trylast``) reads the env vars declared in
    ``provider.auth.env``. An explicit ``api_key=`` given by the caller wins over every
    implementation. Key pools, keyrings and cloud credential chains are auth plugins.
    """


@hookspec(firstresult=True)
def lmux_plug_create_response(
    request: ResponseRequest, provider: ProviderContext
) -> Awaitable[ResponseResponse]:
    """Answer one Responses-API request (capability ``responses``).

    :param request: the typed request; ``request.input`` is a string or Responses input
        items as dicts, ``request.model`` has the provider prefix removed.
    :return: an awaitable resolving to a ``ResponseResponse`` whose ``output`` keeps every
        output item and whose ``tool_calls`` use the ``call_id`` as ``id``. The core fills in
        ``cost`` from :func:`lmux_plug_pricing` when the plugin leaves it ``None``.
    """


@hookspec(firstresult=True)
def lmux_plug_create_response_stream(
    request: ResponseRequest, provider: ProviderContext
) -> AsyncIterator[ResponseChunk]:
    """Stream one Responses-API request.

    :return: an async iterator of ``ResponseChunk``: ``type`` is the wire's event type,
        ``delta`` output text only; the last chunk carries the whole ``ResponseResponse``.
        Closing the iterator early must release the HTTP connection.
    """


@hookspec(firstresult=True)
def lmux_plug_complete(
    request: CompletionRequest, provider: ProviderContext
) -> Awaitable[CompletionResponse]:
    """Answer one legacy text-completion request (capability ``completions``).

    :return: an awaitable resolving to a ``CompletionResponse`` with ``finish_reason``
        normalised as in chat and ``usage`` set.
    """


@hookspec(firstresult=True)
def lmux_plug_complete_stream(
    request: CompletionRequest, provider: ProviderContext
) -> AsyncIterator[CompletionChunk]:
    """Stream one text-completion request.

    :return: an async iterator of ``CompletionChunk``; exactly one carries
        ``finish_reason``, and usage rides on it (or on the last chunk).
    """


@hookspec(firstresult=True)
def lmux_plug_transcribe(
    request: TranscriptionRequest, provider: ProviderContext
) -> Awaitable[TranscriptionResponse]:
    """Transcribe ``request.audio`` (capability ``transcription``).

    :return: an awaitable resolving to a ``TranscriptionResponse``; ``duration`` in seconds
        where the provider reports it (the core prices it with ``per_minute`` rates).
    """


@hookspec(firstresult=True)
def lmux_plug_transcribe_stream(
    request: TranscriptionRequest, provider: ProviderContext
) -> AsyncIterator[TranscriptionChunk]:
    """Stream a transcription (capabilities ``transcription`` and ``stream``).

    :return: an async iterator of ``TranscriptionChunk``; the last carries the whole
        ``TranscriptionResponse``.
    """
