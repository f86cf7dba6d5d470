"""The codec driver: what a provider plugin needs to speak a wire, and nothing it must repeat.

A wire is described by one sans-IO **codec** (:class:`Codec`): it turns a typed request into a
:class:`WireRequest` (URL, JSON body, headers, query), an HTTP answer into a typed response,
and a byte stream into :class:`lmux_plug.ChatChunk` values through a :class:`StreamDecoder`
with one shape, ``feed(bytes) -> list[ChatChunk]`` and ``close() -> list[ChatChunk]``.

The **driver functions** do the I/O on the core transport the same way for every wire:
POST, map HTTP errors (:func:`error_from_response`), decode, and always release the
connection. :func:`codec_hooks` makes the call hooks of a codec and :func:`spec_hooks` the
declaration hooks of its specs, so a plugin's hooks are one line each::

    from lmux_plug import wire

    lmux_plug_providers, lmux_plug_wires = wire.spec_hooks(SPEC)
    lmux_plug_chat, lmux_plug_stream = wire.codec_hooks("lmux_plug_acme._codec")[:2]

A hook served by a function of the plugin's own (a wire that needs several calls for one
answer) is :func:`lazy_hook`: the module holding the function is imported on the first call.

Also here, for codecs: the SSE and NDJSON decoders (:class:`SSEDecoder`,
:class:`NDJSONDecoder`), HTTP error mapping (:func:`error_from_response`,
:func:`error_message_of`, :func:`retry_after_from`, :func:`parse_duration`,
:func:`reclassed`), the small helpers every codec needs (:func:`count_of`,
:func:`tool_arguments`, :func:`tool_call_id`, :func:`reasoning_level`, :func:`sampling`,
:func:`stream_event`, :func:`one_per_input`, :func:`merge_extra`, :func:`json_object`,
:func:`objects_of`, :class:`JsonNesting`,
:func:`decode_json`), :func:`decoded_stream` for a stream of any kind of chunk (the APIs
beyond chat), :func:`path_segment` for ids that go into a URL path,
:func:`gather_limited` for wires that need several calls for one request, and
:func:`scrub` for anything that writes text out.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import TypeVar

from lmux_plug.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Sequence
    from types import ModuleType

    from lmux_plug import ChatChunk
    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import EmbeddingRequest
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec
    from lmux_plug._codec_driver import BaseCodec
    from lmux_plug._codec_driver import ChunkDecoder
    from lmux_plug._codec_driver import Codec
    from lmux_plug._codec_driver import StreamDecoder
    from lmux_plug._codec_driver import WireRequest
    from lmux_plug._codec_driver import WireResponse
    from lmux_plug._codec_driver import WireStream
    from lmux_plug._codec_driver import decoded_stream
    from lmux_plug._codec_driver import open_stream
    from lmux_plug._codec_driver import path_segment
    from lmux_plug._codec_driver import reclassed
    from lmux_plug._codec_driver import send
    from lmux_plug._codec_driver import send_chat
    from lmux_plug._codec_driver import send_embed
    from lmux_plug._codec_driver import stream_chat
    from lmux_plug._http_errors import error_from_response
    from lmux_plug._http_errors import error_message_of
    from lmux_plug._http_errors import parse_duration
    from lmux_plug._http_errors import retry_after_from
    from lmux_plug._secrets import REDACTED
    from lmux_plug._secrets import known_secrets
    from lmux_plug._secrets import scrub
    from lmux_plug._sse import NDJSONDecoder
    from lmux_plug._sse import ServerSentEvent
    from lmux_plug._sse import SSEDecoder
    from lmux_plug.codec import REASONING_EFFORTS
    from lmux_plug.codec import JsonNesting
    from lmux_plug.codec import count_of
    from lmux_plug.codec import json_object
    from lmux_plug.codec import merge_extra
    from lmux_plug.codec import objects_of
    from lmux_plug.codec import one_per_input
    from lmux_plug.codec import reasoning_level
    from lmux_plug.codec import sampling
    from lmux_plug.codec import stream_event
    from lmux_plug.codec import tool_arguments
    from lmux_plug.codec import tool_call_id

__all__ = [
    "REASONING_EFFORTS",
    "REDACTED",
    "BaseCodec",
    "ChunkDecoder",
    "Codec",
    "CodecHooks",
    "JsonNesting",
    "NDJSONDecoder",
    "SSEDecoder",
    "ServerSentEvent",
    "SpecHooks",
    "StreamDecoder",
    "WireRequest",
    "WireResponse",
    "WireStream",
    "codec_hooks",
    "count_of",
    "decode_json",
    "decoded_stream",
    "error_from_response",
    "error_message_of",
    "gather_limited",
    "json_object",
    "known_secrets",
    "lazy_codec",
    "lazy_hook",
    "merge_extra",
    "objects_of",
    "one_per_input",
    "open_stream",
    "parse_duration",
    "path_segment",
    "reasoning_level",
    "reclassed",
    "retry_after_from",
    "sampling",
    "scrub",
    "send",
    "send_chat",
    "send_embed",
    "spec_hooks",
    "stream_chat",
    "stream_event",
    "tool_arguments",
    "tool_call_id",
]

# Everything but what is defined below lives in the driver (lmux_plug._codec_driver) or in
# the modules of the helpers it offers, imported when a hook first reads one of those names
# here (PEP 562): plugins import this module at discovery, and discovery should not pay for
# the driver, its decoders and the call types. Each name is found in its home's ``__all__``.
_DRIVER = "lmux_plug._codec_driver"
_HOMES = (
    _DRIVER,
    "lmux_plug.codec",
    "lmux_plug._http_errors",
    "lmux_plug._secrets",
    "lmux_plug._sse",
)
_DEFINED_HERE = frozenset(
    {
        "CodecHooks",
        "SpecHooks",
        "codec_hooks",
        "decode_json",
        "gather_limited",
        "lazy_codec",
        "lazy_hook",
        "spec_hooks",
    }
)

_T = TypeVar("_T")
_Answer = TypeVar("_Answer", "ChatResponse", "EmbeddingResponse")


def lazy_codec(module: str, name: str = "CODEC") -> Callable[[], Codec]:
    """A function returning ``module.name``, importing ``module`` on its first call only.

    Keeps ``import`` of a plugin (plugin discovery) from loading its codec.
    """
    found: list[Codec] = []

    def load() -> Codec:
        if not found:
            codec: Codec = getattr(importlib.import_module(module), name)
            found.append(codec)
        return found[0]

    return load


def _driver() -> ModuleType:
    """The driver module (imported by the first call that needs it)."""
    return sys.modules.get(_DRIVER) or importlib.import_module(_DRIVER)


class CodecHooks(NamedTuple):
    """The three call hooks of a codec, each a function to bind to the hook's name.

    A plugin binds those its wire serves (``lmux_plug_chat, lmux_plug_stream = ...[:2]``)
    and nothing else: every marked function of a plugin module must be named after a hook,
    and a hook it leaves out is one its providers do not implement.
    """

    #: ``lmux_plug_chat``: :func:`send_chat` with the codec.
    chat: Callable[[ChatRequest, ProviderContext], Awaitable[ChatResponse]]
    #: ``lmux_plug_stream``: :func:`stream_chat` with the codec.
    stream: Callable[[ChatRequest, ProviderContext], AsyncIterator[ChatChunk]]
    #: ``lmux_plug_embed``: :func:`send_embed` with the codec.
    embed: Callable[[EmbeddingRequest, ProviderContext], Awaitable[EmbeddingResponse]]


def codec_hooks(module: str, name: str = "CODEC") -> CodecHooks:
    """The call hooks that drive the codec ``module.name`` (imported on the first call).

    Each is marked with :data:`lmux_plug.hookimpl`; bind it at module level under the
    hook's name, so the plugin module registers it as its own implementation.
    """
    load = lazy_codec(module, name)
    return CodecHooks(
        _driven("send_chat", load), _driven("stream_chat", load), _driven("send_embed", load)
    )


def _driven(function: str, load: Callable[[], Codec]) -> Callable[[Any, ProviderContext], Any]:
    """A call hook answered by the driver's ``function(codec, request, provider)``."""

    @hookimpl
    def call(request: Any, provider: ProviderContext) -> Any:
        return getattr(_driver(), function)(load(), request, provider)

    return call


class SpecHooks(NamedTuple):
    """The two declaration hooks of a plugin's specs, each a function to bind to its name."""

    #: ``lmux_plug_providers``: the specs.
    providers: Callable[[], Sequence[ProviderSpec]]
    #: ``lmux_plug_wires``: their wires, for a plugin that serves every spec of its wires
    #: (leave it unbound to serve only the specs the plugin declares itself).
    wires: Callable[[], Sequence[str]]


def spec_hooks(*specs: ProviderSpec) -> SpecHooks:
    """``lmux_plug_providers`` declaring ``specs`` and ``lmux_plug_wires`` declaring their wires.

    Bind them at module level under the hooks' names (see :func:`codec_hooks`).
    """
    declared = list(specs)
    wires = list(dict.fromkeys(spec.wire for spec in specs))

    @hookimpl
    def lmux_plug_providers() -> Sequence[ProviderSpec]:
        return list(declared)

    @hookimpl
    def lmux_plug_wires() -> Sequence[str]:
        return list(wires)

    return SpecHooks(lmux_plug_providers, lmux_plug_wires)


def lazy_hook(module: str, name: str) -> Callable[[Any, ProviderContext], Any]:
    """A call hook ``(request, provider)`` answered by ``module.name(request, provider)``.

    ``module`` is imported on the first call, so plugin discovery does not pay for it. For
    hooks a plugin serves with its own code (a wire that takes several calls per answer,
    an API beyond chat); bind the result under the hook's name, as :func:`codec_hooks`.
    """
    found: list[Callable[[Any, ProviderContext], Any]] = []

    @hookimpl
    def call(request: Any, provider: ProviderContext) -> Any:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return found[0](request, provider)

    return call


def decode_json(
    decode: Callable[..., _Answer],
    response: WireResponse,
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    **options: Any,
) -> _Answer:
    """``decode(body, model=..., provider=..., **options)`` of a JSON answer, with its headers.

    For codecs whose decode functions take the parsed body and name the model and the
    provider in their errors: a ``decode_chat`` or ``decode_embed`` method is this one call.
    A malformed JSON body raises ``ProviderError``.
    """
    import attrs  # noqa: PLC0415 - keeps plugin discovery from importing attrs here

    body = response.json(provider=provider.name, model=request.model)
    decoded = decode(body, model=request.model, provider=provider.name, **options)
    return attrs.evolve(decoded, headers=response.headers)


async def gather_limited(calls: Iterable[Callable[[], Awaitable[_T]]], limit: int) -> list[_T]:
    """Await every ``call()``, at most ``limit`` at once, and return the results in order.

    For wires that need several HTTP calls for one request (an embedding model that takes
    one text, or a few, per call). The first failure, or the caller's cancellation, cancels
    the calls still running and waits for them, so nothing is left running; then it is
    raised.
    """
    import asyncio  # noqa: PLC0415 - keeps plugin discovery from importing asyncio

    gate = asyncio.Semaphore(limit)

    async def gated(call: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(gated(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def __getattr__(name: str) -> Any:
    if name in __all__:
        # Bound here once, so later reads are plain module attribute reads.
        for home in map(importlib.import_module, _HOMES):
            globals().update((n, getattr(home, n)) for n in home.__all__ if n in __all__)
        return globals()[name]
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
