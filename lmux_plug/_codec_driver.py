"""The codec driver behind :mod:`lmux_plug.wire` (documented there; import it from there).

Kept apart so that importing a plugin, which imports ``lmux_plug.wire`` for its hooks,
does not load the driver, the SSE decoders, the error mapping and the call types: they
load when a hook first reads one of these names through ``lmux_plug.wire``. The helpers
``lmux_plug.wire`` also offers from :mod:`lmux_plug.codec`, the decoders and the error
mapping are read from their own modules, so this one lists only what it defines.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

import attrs

from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.wire import decode_json
from lmux_plug.wire import gather_limited

if TYPE_CHECKING:
    from collections.abc import Callable

    from lmux_plug._context import ProviderContext
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug.wire import _Answer

__all__ = [
    "BaseCodec",
    "ChunkDecoder",
    "Codec",
    "StreamDecoder",
    "WireRequest",
    "WireResponse",
    "WireStream",
    "decoded_stream",
    "open_stream",
    "path_segment",
    "reclassed",
    "send",
    "send_chat",
    "send_embed",
    "stream_chat",
]

_Chunk = TypeVar("_Chunk")


@attrs.frozen
class WireRequest:
    """One HTTP call a codec asks for: ``POST url`` with a JSON ``body``.

    ``headers`` and ``params`` are the wire's own (an API version, ``accept``, a beta flag,
    ``alt=sse``); the driver adds the provider's auth headers and query parameters before
    them and the caller's ``extra_headers`` after them. ``secrets`` are values besides the
    provider's key that must not appear in errors and logs (an access token or a signing
    key that :meth:`Codec.prepare` added).
    """

    url: str
    body: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str] = attrs.field(factory=dict)
    secrets: tuple[str, ...] = ()


class WireResponse(Protocol):
    """A complete HTTP answer as a codec sees it (the transport's ``HttpResponse``).

    ``headers`` is a plain ``dict`` with lower-case names.
    """

    @property
    def status(self) -> int:
        """The HTTP status (2xx: errors were raised before decoding)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, lower-case names."""

    @property
    def body(self) -> bytes:
        """The raw body."""

    def json(self, *, provider: str | None = None, model: str | None = None) -> Any:
        """The body decoded as JSON; malformed JSON raises ``ProviderError``."""


class WireStream(Protocol):
    """A streamed HTTP answer (the transport's ``StreamingResponse``)."""

    @property
    def status(self) -> int:
        """The HTTP status (2xx: errors were raised before the body)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, lower-case names."""

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive."""

    def close(self) -> None:
        """Release the connection (idempotent)."""


@runtime_checkable
class StreamDecoder(Protocol):
    """A sans-IO stream decoder: bytes in any split in, chunks out.

    :meth:`feed` returns the chunks completed by new bytes (and raises the ``LmuxError`` of
    an error event as soon as it is complete); :meth:`close` is called once at the end of
    the body and returns what is left (raising if the stream was cut short).
    """

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add body bytes; return the chunks they complete, in order."""

    def close(self) -> list[ChatChunk]:
        """End of body: return the remaining chunks, or raise for a truncated stream."""


class ChunkDecoder(Protocol[_Chunk]):
    """What :func:`decoded_stream` feeds: a sans-IO decoder of any kind of chunk.

    :class:`StreamDecoder` is the chat one; the decoders of the APIs beyond chat (Responses,
    completions, transcription) have the same two methods for their own chunk types.
    """

    def feed(self, data: bytes) -> list[_Chunk]:
        """Add body bytes; return the chunks they complete, in order."""

    def close(self) -> list[_Chunk]:
        """End of body: return the remaining chunks, or raise for a truncated stream."""


class Codec(Protocol):
    """The sans-IO description of one wire. Subclass :class:`BaseCodec` to get defaults."""

    @property
    def embed_concurrency(self) -> int:
        """The most calls of one embeddings request in flight at once (:meth:`embed_parts`)."""

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """The HTTP call for a chat request (``stream=True``: the streamed variant).

        Raise :class:`lmux_plug.InvalidRequestError` for what the wire cannot express.
        """

    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        """The typed answer for a 2xx response; a malformed one raises ``ProviderError``."""

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder:
        """A fresh decoder for one streamed answer (``headers``: the response's)."""

    def embed_parts(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> Sequence[EmbeddingRequest]:
        """The requests of one call each that an embeddings request is sent as, in order.

        ``(request,)`` for a wire that embeds every input in one call; a wire whose models
        take one text, or a few, per call splits the inputs (the driver joins the answers).
        """

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """The HTTP call for an embeddings request (one of :meth:`embed_parts`)."""

    def decode_embed(
        self, response: WireResponse, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        """The vectors of a 2xx embeddings response, one per input, in input order."""

    def prepare(
        self, call: WireRequest, request: ChatRequest | EmbeddingRequest, provider: ProviderContext
    ) -> WireRequest | Awaitable[WireRequest]:
        """The call as it goes out, for a wire that must finish it with I/O (or ``call``).

        Where credentials come from a cloud chain: an access token fetched, a request
        signed over its final bytes. May return an awaitable; put what it adds that is
        secret in :attr:`WireRequest.secrets`.
        """

    def refine_error(self, error: LmuxError) -> LmuxError:
        """Make an HTTP error more specific for this wire (or return it unchanged)."""


class BaseCodec:
    """Defaults for a :class:`Codec`: no embeddings, HTTP errors left as mapped.

    Subclass it and implement :meth:`encode_chat` (and :meth:`encode_embed` if the wire has
    embeddings). A wire whose answers are one JSON body each and whose stream decoder needs
    only the model and the provider names its pure functions instead of writing the methods:
    :attr:`chat_decoder`, :attr:`embed_decoder` and :attr:`stream_decoder_class`; any other
    wire overrides :meth:`decode_chat`, :meth:`stream_decoder` and :meth:`decode_embed`.
    """

    #: ``decode(body, model=..., provider=...)`` of a 2xx chat body (``staticmethod`` of it):
    #: the default :meth:`decode_chat` adds the response headers. ``None``: no chat.
    chat_decoder: ClassVar[Callable[..., ChatResponse] | None] = None
    #: ``decode(body, model=..., provider=..., expected=...)`` of a 2xx embeddings body, with
    #: ``expected`` the number of inputs. ``None``: no embeddings.
    embed_decoder: ClassVar[Callable[..., EmbeddingResponse] | None] = None
    #: Made as ``stream_decoder_class(model=..., provider=...)`` for each streamed answer by
    #: the default :meth:`stream_decoder`. ``None``: no streaming.
    stream_decoder_class: ClassVar[Callable[..., StreamDecoder] | None] = None
    #: The most calls of one embeddings request in flight at once.
    embed_concurrency: ClassVar[int] = 8

    def encode_chat(
        self,
        request: ChatRequest,
        provider: ProviderContext,
        *,
        stream: bool,  # noqa: ARG002 - the Codec protocol's signature
    ) -> WireRequest:
        """Not implemented: a chat wire must override it."""
        raise _unsupported("chat", provider, request.model)

    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        """:attr:`chat_decoder` of the JSON body, with the response headers."""
        return _decoded(self.chat_decoder, "chat", response, request, provider)

    def stream_decoder(
        self,
        request: ChatRequest,
        provider: ProviderContext,
        headers: Mapping[str, str],  # noqa: ARG002 - the Codec protocol's signature
    ) -> StreamDecoder:
        """A fresh :attr:`stream_decoder_class` for the request's model and the provider."""
        make = self.stream_decoder_class
        if make is None:
            raise _unsupported("streaming", provider, request.model)
        return make(model=request.model, provider=provider.name)

    def embed_batch_size(self, request: EmbeddingRequest) -> int | None:  # noqa: ARG002
        """The most inputs one embeddings call of ``request.model`` takes (``None``: all)."""
        return None

    def embed_parts(
        self,
        request: EmbeddingRequest,
        provider: ProviderContext,  # noqa: ARG002 - the Codec protocol's signature
    ) -> Sequence[EmbeddingRequest]:
        """``request`` split in consecutive parts of :meth:`embed_batch_size` inputs."""
        size = self.embed_batch_size(request)
        texts = request.inputs
        if size is None or len(texts) <= size:
            return (request,)
        return [
            attrs.evolve(request, inputs=texts[start : start + size])
            for start in range(0, len(texts), size)
        ]

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """Embeddings are not part of this wire."""
        raise _unsupported("embeddings", provider, request.model)

    def decode_embed(
        self, response: WireResponse, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        """:attr:`embed_decoder` of the JSON body (one vector per input), with the headers."""
        expected = len(request.inputs)
        return _decoded(
            self.embed_decoder, "embeddings", response, request, provider, expected=expected
        )

    def prepare(
        self,
        call: WireRequest,
        request: ChatRequest | EmbeddingRequest,  # noqa: ARG002 - the Codec protocol's signature
        provider: ProviderContext,  # noqa: ARG002 - the Codec protocol's signature
    ) -> WireRequest | Awaitable[WireRequest]:
        """The call as encoded: the provider's key is all the auth there is."""
        return call

    def refine_error(self, error: LmuxError) -> LmuxError:
        """The error as the core mapped it."""
        return error


def reclassed(error: LmuxError, cls: type[LmuxError], **changes: Any) -> LmuxError:
    """``error`` as a ``cls``: every field kept but those in ``changes``, the same cause.

    For :meth:`Codec.refine_error` of a wire whose error bodies say more than the status
    (Gemini's 400 ``API_KEY_INVALID`` is an :class:`~lmux_plug.AuthenticationError`).
    ``retryable`` stays the error's when the class does not change, else it is the new
    class's default, unless ``changes`` sets it.
    """
    fields: dict[str, Any] = {
        "provider": error.provider,
        "model": error.model,
        "status_code": error.status_code,
        "request_id": error.request_id,
        "retryable": error.retryable if cls is type(error) else None,
        "body": error.body,
        "retry_after": error.retry_after,
        "headers": error.headers,
    }
    refined = cls(error.message, **{**fields, **changes})
    refined.__cause__ = error.__cause__
    return refined


def _unsupported(what: str, provider: ProviderContext, model: str) -> UnsupportedFeatureError:
    msg = f"the {provider.spec.wire!r} wire does not implement {what}"
    return UnsupportedFeatureError(msg, provider=provider.name, model=model)


def _decoded(
    decode: Callable[..., _Answer] | None,
    what: str,
    response: WireResponse,
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    **options: Any,
) -> _Answer:
    """:func:`decode_json` with a :class:`BaseCodec` decoder, refusing ``what`` without one."""
    if decode is None:
        raise _unsupported(what, provider, request.model)
    return decode_json(decode, response, request, provider, **options)


# -- URL paths ---------------------------------------------------------------------------

_FORBIDDEN_SEGMENTS = frozenset({".", ".."})


def path_segment(value: str, *, what: str = "model id", provider: str | None = None) -> str:
    """``value`` escaped as exactly one URL path segment (``quote(value, safe="")``).

    Ids that no escaping makes safe are refused with :class:`InvalidRequestError` before any
    I/O: empty ones, ones holding control characters, and ones with a ``.`` or ``..``
    segment (``gemini-2.5-flash/../gemini-2.5-pro``: servers that decode ``%2F`` would walk
    up the path, and a model allowlist would be bypassed). ``?``, ``#``, ``/``, ``%`` and
    spaces are escaped, so they can neither start a query nor cut the path.
    """
    from urllib.parse import quote  # noqa: PLC0415 - only codecs with ids in paths need it

    raw: object = value
    if not isinstance(raw, str) or not value:
        msg = f"{what} must be a non-empty string"
        raise InvalidRequestError(msg, provider=provider)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        msg = f"{what} {value!r} contains control characters"
        raise InvalidRequestError(msg, provider=provider, model=value)
    if _FORBIDDEN_SEGMENTS.intersection(value.replace("\\", "/").split("/")):
        msg = f"{what} {value!r} contains a '.' or '..' path segment"
        raise InvalidRequestError(msg, provider=provider, model=value)
    return quote(value, safe="")


# -- the driver --------------------------------------------------------------------------


def _transport_options(
    call: WireRequest, request: ChatRequest | EmbeddingRequest, provider: ProviderContext
) -> dict[str, Any]:
    """The transport's keyword arguments for ``call``: headers, body, query, timeout, secrets."""
    headers = provider.auth_headers()
    if call.headers:
        headers.update(call.headers)
    if request.extra_headers:
        headers.update(request.extra_headers)
    params = provider.auth_params()
    if call.params:
        params = {**params, **call.params}
    secrets = provider.secrets()
    return {
        "headers": headers,
        "json_body": call.body,
        "params": params or None,
        "timeout": request.timeout,
        "provider": provider.name,
        "model": request.model,
        "secrets": (*secrets, *call.secrets) if call.secrets else secrets,
    }


async def _post(
    codec: Codec,
    call: WireRequest,
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    *,
    stream: bool,
) -> Any:
    """``POST`` the prepared call on ``provider.transport`` (``stream``: its streaming method).

    A non-2xx answer raises the mapped ``LmuxError`` refined by the codec.
    """
    prepared = codec.prepare(call, request, provider)
    if not isinstance(prepared, WireRequest):  # most wires need no I/O: no await for them
        prepared = await prepared
    options = _transport_options(prepared, request, provider)
    transport = provider.transport
    method = transport.stream if stream else transport.request
    try:
        return await method("POST", prepared.url, **options)
    except LmuxError as exc:
        raise codec.refine_error(exc) from exc.__cause__


async def send(
    codec: Codec,
    call: WireRequest,
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
) -> WireResponse:
    """``POST`` one call on the core transport and read the whole answer.

    Headers: the provider's auth headers, then ``call.headers``, then the request's
    ``extra_headers``. A non-2xx answer raises the mapped ``LmuxError`` (refined by
    :meth:`Codec.refine_error`), scrubbed of the call's secrets.
    """
    response: WireResponse = await _post(codec, call, request, provider, stream=False)
    return response


async def open_stream(
    codec: Codec,
    call: WireRequest,
    request: ChatRequest,
    provider: ProviderContext,
) -> WireStream:
    """``POST`` one call and return the streaming response once its headers arrived.

    The caller must iterate ``response.iter_bytes()`` and call ``response.close()`` in a
    ``finally``; :func:`stream_chat` does both.
    """
    response: WireStream = await _post(codec, call, request, provider, stream=True)
    return response


async def send_chat(codec: Codec, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    """One chat call: encode, POST, decode. Return it from ``lmux_plug_chat`` as is."""
    call = codec.encode_chat(request, provider, stream=False)
    response = await send(codec, call, request, provider)
    return codec.decode_chat(response, request, provider)


def stream_chat(
    codec: Codec, request: ChatRequest, provider: ProviderContext
) -> AsyncIterator[ChatChunk]:
    """One streamed chat call: encode, POST, feed every body byte to the codec's decoder.

    Nothing happens before the iteration starts. The body is read to its end (so the
    connection can go back to the pool), then the decoder is closed. Leaving early
    (``aclose``) or failing releases the connection (see :func:`decoded_stream`).
    """

    async def opened() -> WireStream:
        call = codec.encode_chat(request, provider, stream=True)
        return await open_stream(codec, call, request, provider)

    def decoder(headers: Mapping[str, str]) -> StreamDecoder:
        return codec.stream_decoder(request, provider, headers)

    return decoded_stream(opened, decoder)


async def decoded_stream(
    opened: Callable[[], Awaitable[WireStream]],
    decoder: Callable[[Mapping[str, str]], ChunkDecoder[_Chunk]],
) -> AsyncIterator[_Chunk]:
    """The chunks ``decoder(headers)`` decodes from the streamed answer ``opened()`` returns.

    For a stream of any kind of chunk (chat, or an API beyond it): ``opened`` is awaited
    when the iteration starts, every body byte is fed to the decoder, the decoder is closed
    at the end of the body, and the connection is released however the iteration ends
    (read to its end, left early with ``aclose``, or failed).
    """
    response = await opened()
    try:
        feeder = decoder(response.headers)
        async for data in response.iter_bytes():
            for chunk in feeder.feed(data):
                yield chunk
        for chunk in feeder.close():
            yield chunk
    finally:
        response.close()


async def send_embed(
    codec: Codec, request: EmbeddingRequest, provider: ProviderContext
) -> EmbeddingResponse:
    """An embeddings request: encode, POST, decode. Return it from ``lmux_plug_embed`` as is.

    A request the codec splits (:meth:`Codec.embed_parts`) is every part encoded before any
    I/O, then sent with at most :attr:`Codec.embed_concurrency` calls at once (the first
    failure cancels the rest), then joined: vectors in input order, usage summed, the
    request id and headers of the last call.
    """
    parts = codec.embed_parts(request, provider)
    calls = [(codec.encode_embed(part, provider), part) for part in parts]

    async def one(call: WireRequest, part: EmbeddingRequest) -> EmbeddingResponse:
        response = await send(codec, call, part, provider)
        return codec.decode_embed(response, part, provider)

    if len(calls) == 1:
        return await one(*calls[0])
    answers = await gather_limited(
        [functools.partial(one, call, part) for call, part in calls], codec.embed_concurrency
    )
    usage = answers[0].usage
    for answer in answers[1:]:
        usage = usage + answer.usage
    vectors = [vector for answer in answers for vector in answer.embeddings]
    return attrs.evolve(answers[-1], embeddings=vectors, usage=usage)
