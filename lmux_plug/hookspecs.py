# mypy: disable-error-code="empty-body"
"""The hook specification: what a plugin may implement.

A plugin declares providers as data (:func:`lmux_plug_providers`) and implements the five
call hooks for the wires it speaks. The core calls the owning plugin's implementation
directly (plus every ``wrapper=True`` implementation around it); no implementation needs to
check whether a call is "for it".

pluggy is synchronous. The call hooks therefore *return* an awaitable (chat, embed) or an
async iterator (stream) and the core awaits it; a wrapper sees that object as the result
of ``yield`` and may return a wrapped one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lmux_plug._context import ProviderContext
    from lmux_plug._pricing import ModelPricing
    from lmux_plug._types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        Credentials,
        EmbeddingRequest,
        EmbeddingResponse,
        ProviderSpec,
    )

__all__ = [
    "hookimpl",
    "hookspec",
    "lmux_plug_auth",
    "lmux_plug_chat",
    "lmux_plug_embed",
    "lmux_plug_pricing",
    "lmux_plug_providers",
    "lmux_plug_stream",
]

PROJECT = "lmux_plug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the providers this plugin serves, as data.

    :return: ``ProviderSpec`` values. Each ``name`` becomes a model prefix. The plugin
        that declares a spec owns its calls; a spec registered later by a user with the
        same ``wire`` is served by the plugin that declared that wire first.

    Called once per registry when the plugin is loaded. Results of every plugin are
    collected; a plugin that raises or returns something other than specs is reported as
    broken and skipped.
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
