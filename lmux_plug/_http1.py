"""A lean HTTP/1.1 client: keep-alive connections per origin over asyncio protocols.

This module is imported on the first request, never by ``import lmux_plug``.

Why it exists: on a loopback OpenAI-format server a bare ``aiohttp.ClientSession`` call
costs about 90 µs of client CPU, of which a raw asyncio protocol needs about 35; the rest is
generic machinery (redirects, cookies, tracing, URL objects, stream readers) a provider call
does not use. :class:`lmux_plug.http.Transport` sends plain ``http``/``https`` requests that
need no proxy through this module, and everything else through aiohttp (proxies, and any
session patched by vcrpy or aioresponses, so cassettes and mocks keep working).

Two halves: :class:`ResponseParser` is sans-IO (bytes in, status, headers and body out;
the framing is llhttp's, through ``httptools``; the tests feed it arbitrary byte splits
and compare it with aiohttp's parser), and :class:`Http1Pool` drives it over sockets.
Failures leave as :class:`Http1Error` subclasses (and :class:`~lmux_plug._http_body.BodyError`
for size limits and decoding), which the transport maps to :mod:`lmux_plug.errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

import attrs
import httptools

from lmux_plug._http_body import DEFAULT_MAX_BYTES
from lmux_plug._http_body import BodyDecoder
from lmux_plug._http_body import BodyError
from lmux_plug.resilience.timeouts import call_at
from lmux_plug.resilience.timeouts import cancel

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

__all__ = [
    "ConnectError",
    "ConnectionClosedError",
    "Exchange",
    "Http1Error",
    "Http1Pool",
    "ProtocolError",
    "ReadTimeoutError",
    "ResponseParser",
    "Target",
]

MAX_HEAD = 64 * 1024  # status line plus headers; real APIs send a few KiB at most
MAX_HEADERS = 128  # header plus trailer lines, as aiohttp's client allows
MAX_FIELD = 8190  # one header name or value, as aiohttp's client allows
HIGH_WATER = 256 * 1024  # unread body bytes at which reading pauses (back-pressure)
KEEPALIVE_SECONDS = 15.0  # idle connections older than this are closed, not reused
_NO_BODY_STATUSES = frozenset({204, 304})


class Http1Error(Exception):
    """Base of the failures this module raises."""


class ConnectError(Http1Error):
    """The connection (TCP or TLS) could not be made."""


class ConnectionClosedError(Http1Error):
    """The server closed the connection before the response was complete."""


class ProtocolError(Http1Error):
    """The server's bytes are not a valid HTTP/1.1 response."""


class ReadTimeoutError(Http1Error):
    """No byte arrived within the read timeout, or the total deadline passed."""


# --------------------------------------------------------------------------- parsing


def _checked_name(name: bytes) -> str:
    """A response header name, lower-cased, once checked (then remembered: names repeat)."""
    if len(name) > MAX_FIELD:
        msg = f"header line longer than {MAX_FIELD} bytes: {name[:40]!r}"
        raise ProtocolError(msg)
    if not is_token(name):
        # llhttp in aiohttp's lenient mode accepts "content-length : 5" as a header named
        # "content-length "; aiohttp's pure-Python parser refuses it, and a name that
        # other hops may read differently is how framing gets smuggled.
        msg = f"invalid header name {name[:40]!r}"
        raise ProtocolError(msg)
    key = name.decode("latin-1").lower()
    if len(_NAMES_SEEN) > 1024:  # servers send few distinct names; bound it anyway
        _NAMES_SEEN.clear()
    _NAMES_SEEN[name] = key
    return key


_NAMES_SEEN: dict[bytes, str] = {}


def is_token(name: bytes) -> bool:
    """Whether ``name`` is an RFC 9110 token (what a header name must be)."""
    return bool(name) and not name.translate(None, _TOKEN_CHARS)


_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class ResponseParser:
    """Parse one HTTP/1.1 response from bytes fed in any split (llhttp via ``httptools``).

    The framing (status line, headers, ``Content-Length`` and chunked bodies, trailers) is
    llhttp's, with the leniencies aiohttp's client enables and nothing more; the few things
    llhttp lets through in that mode that aiohttp's own checks refuse are refused here by
    explicit checks (see :meth:`on_header` and :meth:`on_headers_complete`).

    After :meth:`feed` (and :meth:`feed_eof` when the peer closed), ``head_done`` says the
    status and headers are known, :meth:`take` returns the body bytes decoded so far
    (de-chunked and decompressed, within the limits), and ``complete`` says the response
    has ended. Header names are lower-cased; repeated headers are joined with ``", "``.
    Interim ``1xx`` responses are skipped. ``keep_alive`` says whether the connection may
    be reused.
    """

    __slots__ = (
        "_body_bytes",
        "_decoder",
        "_framing_bytes",
        "_head_request",
        "_interim",
        "_max_bytes",
        "_max_decoded",
        "_parser",
        "_pieces",
        "_raw",
        "_status_length",
        "_until_close",
        "buffered",
        "complete",
        "head_done",
        "headers",
        "keep_alive",
        "received",
        "status",
    )

    def __init__(
        self,
        *,
        head_request: bool = False,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_decoded: int | None = DEFAULT_MAX_BYTES,
    ) -> None:
        parser = httptools.HttpResponseParser(self)
        # The leniencies aiohttp's client parser sets (aiohttp/_http_parser.pyx), so the
        # two paths accept the same answers; what they let through that aiohttp then
        # refuses is refused by the explicit checks below.
        parser.set_dangerous_leniencies(
            lenient_headers=True,
            lenient_optional_cr_before_lf=True,
            lenient_spaces_after_chunk_size=True,
        )
        self._parser: httptools.HttpResponseParser | None = parser
        self._head_request = head_request
        self._max_bytes = max_bytes
        self._max_decoded = max_decoded
        self._pieces: list[bytes] = []
        self._decoder: BodyDecoder | None = None
        self._interim = False
        self._until_close = False
        self._raw: list[tuple[bytes, bytes]] = []  # header and trailer lines as received
        self._status_length = 0
        self._framing_bytes = 0  # bytes fed since the last body byte
        self._body_bytes = 0
        self.buffered = 0  # decoded body bytes waiting in take()
        self.received = 0  # bytes fed so far (0: the server has not answered at all)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.keep_alive = True

    def feed(self, data: bytes) -> None:
        """Consume bytes received from the server."""
        parser = self._parser
        if self.complete or parser is None:
            if data:
                # Bytes after a complete response (no pipelining here), or after close():
                # never reuse this connection.
                self.keep_alive = False
            return
        self.received += len(data)
        body_before = self._body_bytes
        try:
            parser.feed_data(data)
        except (Http1Error, BodyError):
            raise
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._parser_failed(exc)
        if self._body_bytes != body_before or self.complete:
            self._framing_bytes = 0
            return
        # Bytes that carried no body: head, chunk size lines, trailers. llhttp buffers a
        # header or trailer line in memory until it ends and sets no bound of its own, so
        # bound them here (aiohttp bounds head and trailers alike).
        self._framing_bytes += len(data)
        if self._framing_bytes > MAX_HEAD:
            what = "response head" if not self.head_done else "chunk framing or trailer section"
            msg = f"{what} larger than {MAX_HEAD} bytes"
            raise ProtocolError(msg)

    def _parser_failed(self, exc: Exception) -> None:
        cause = exc.__context__
        if isinstance(cause, (Http1Error, BodyError)):
            raise cause from None  # our own check, raised inside an llhttp callback
        if self.complete:
            # llhttp read on past the end of our response (garbage or a second response):
            # the response we have is whole, the connection is not reusable.
            self.keep_alive = False
            return
        if isinstance(exc, httptools.HttpParserUpgrade):
            msg = "the server switched protocols; only HTTP/1.1 is spoken here"
        else:
            msg = f"malformed HTTP response: {exc}"
        raise ProtocolError(msg) from None

    def feed_eof(self) -> None:
        """The server closed its side; raise :class:`ConnectionClosedError` if a response is cut."""
        if self.complete:
            return
        if self.head_done and self._until_close:
            self._finish()
            return
        if not self.head_done:
            msg = "connection closed before a complete response head"
        else:
            msg = "connection closed in the middle of the response body"
        raise ConnectionClosedError(msg)

    def close(self) -> None:
        """Stop parsing: drop llhttp's parser (call when no more bytes will be fed).

        The llhttp parser holds this object's callbacks and this object holds the parser:
        a reference cycle, which only the garbage collector would free. One per response
        was enough to trigger a collection every ~50 responses, each walking every object
        of the calls in flight (8 % of a call's instructions at 64 concurrent calls).
        """
        self._parser = None

    def take(self) -> bytes:
        """Return (and forget) the body bytes decoded so far."""
        pieces = self._pieces
        if not pieces:
            return b""
        self._pieces = []
        self.buffered = 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    # -- llhttp callbacks ---------------------------------------------------------------

    # httptools looks up every callback with ``getattr(protocol, name, None)`` when a
    # parser is made (once per response); a missing attribute raises and formats an
    # AttributeError inside it, which cost ~10k instructions per response. None: no callback.
    on_chunk_header = None
    on_chunk_complete = None

    def on_status(self, reason: bytes) -> None:
        """(A piece of) the reason phrase; bounded as aiohttp bounds the status line."""
        self._status_length += len(reason)
        if self._status_length > MAX_FIELD - len("HTTP/1.1 200 "):
            msg = f"status line longer than {MAX_FIELD} bytes"
            raise ProtocolError(msg)

    def on_message_begin(self) -> None:
        """A (next) message starts: after an interim 1xx, forget its headers."""
        if self.complete:
            self.keep_alive = False  # a second response in the same bytes: never reuse
            return
        self._raw = []
        self._status_length = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header (or, after the head, one trailer) line: kept raw, checked at the end."""
        raw = self._raw
        raw.append((name, value))
        if len(raw) > MAX_HEADERS:
            # aiohttp's client refuses more than 128 header (plus trailer) lines; without a
            # bound an endless trailer section would grow this list forever.
            msg = f"more than {MAX_HEADERS} header lines"
            raise ProtocolError(msg)

    def _headers_from(self, raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
        """The header dict from raw lines, refusing what aiohttp refuses and lenient llhttp not."""
        headers: dict[str, str] = {}
        names = _NAMES_SEEN
        for name, value in raw:
            key = names.get(name)
            if key is None:
                key = _checked_name(name)
            if len(value) > MAX_FIELD:
                msg = f"header line longer than {MAX_FIELD} bytes: {name[:40]!r}"
                raise ProtocolError(msg)
            text = value.rstrip(b" \t").decode("latin-1")  # llhttp keeps trailing blanks
            # Checked on the text: ``bytes in bytes`` first tries the operand as an int
            # and raises and clears a TypeError inside, several times dearer than this.
            if "\x00" in text or "\r" in text:
                # Lenient llhttp lets NUL (and a lone CR) through; aiohttp refuses them
                # (RFC 9110 5.5: no control characters in field values).
                msg = f"control character in the value of header {name[:40]!r}"
                raise ProtocolError(msg)
            previous = headers.get(key)
            headers[key] = text if previous is None else f"{previous}, {text}"
        return headers

    def on_headers_complete(self) -> None:
        """The head is complete: decide the body's framing and decoding."""
        parser = self._parser
        assert parser is not None  # noqa: S101 - llhttp calls this from feed()
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # llhttp ends this message and parses the next head
            return
        headers = self.headers = self._headers_from(self._raw)
        if "transfer-encoding" in headers and "content-length" in headers:
            # llhttp refuses this too; checked here as well because it is the request
            # smuggling case (RFC 9112 6.1: a server must not send both), never to be
            # resolved by guessing which one counts.
            msg = "response has both Content-Length and Transfer-Encoding"
            raise ProtocolError(msg)
        self.status = status
        self.head_done = True
        self.keep_alive = parser.should_keep_alive()
        chunked = headers.get("transfer-encoding", "").lower().rsplit(",", 1)[-1].strip()
        self._until_close = chunked != "chunked" and "content-length" not in headers
        self._decoder = BodyDecoder(
            headers.get("content-encoding", ""),
            max_bytes=self._max_bytes,
            max_decoded=self._max_decoded,
        )
        if self._until_close:
            self.keep_alive = False
        if self._head_request or status in _NO_BODY_STATUSES or status == 101:
            self._until_close = False
            self._finish()

    def on_body(self, data: bytes) -> None:
        """Body bytes, de-chunked by llhttp."""
        if self.complete:  # a HEAD answer's body, which does not exist: never reuse
            self.keep_alive = False
            return
        self._body_bytes += len(data)
        decoder = self._decoder
        assert decoder is not None  # noqa: S101 - set in on_headers_complete
        self.buffered += decoder.decode(data, self._pieces)

    def on_message_complete(self) -> None:
        """The end of a message: of an interim 1xx one, or of our response."""
        if self._interim:
            self._interim = False
            return
        if not self.complete:
            self._finish()

    def _finish(self) -> None:
        decoder = self._decoder
        if decoder is not None:
            self.buffered += decoder.finish(self._pieces)
        self.complete = True


# --------------------------------------------------------------------------- requests


class Target:
    """Where a URL goes: the origin to connect to and the request line's target, encoded."""

    __slots__ = ("host", "host_header", "origin", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            from lmux_plug._secrets import without_userinfo  # noqa: PLC0415 - error path

            msg = f"not an http(s) URL: {without_userinfo(url)!r}"
            raise ValueError(msg)
        if parts.username is not None or parts.password is not None:
            # Credentials in the URL (basic auth) are aiohttp's to send.
            msg = "URL carries user info"
            raise ValueError(msg)
        self.tls = scheme == "https"
        host = parts.hostname
        default_port = 443 if self.tls else 80
        self.port = parts.port or default_port
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
        self.host = ascii_host
        shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
        self.host_header = shown if self.port == default_port else f"{shown}:{self.port}"
        self.origin = (scheme, ascii_host, self.port)
        # Keep existing %-escapes, escape what may not appear raw on a request line.
        path = quote(parts.path or "/", safe="/:@!$&'()*+,;=-._~%")
        query = quote(parts.query, safe="/:@!$&'()*+,;=-._~%?")
        self.path = f"{path}?{query}" if query else path

    def with_query(self, params: Mapping[str, str]) -> Target:
        """The same target with ``params`` added to its query string."""
        other = object.__new__(Target)
        for name in Target.__slots__:
            setattr(other, name, getattr(self, name))
        extra = urlencode(params)
        other.path = f"{self.path}&{extra}" if "?" in self.path else f"{self.path}?{extra}"
        return other


def encode_request(
    method: str, target: Target, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The request head (and body) as bytes; refuses header values that smuggle lines."""
    block = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    # Every header contributes exactly one CRLF; any other CR or LF would start a new
    # header (or the body) on the wire: header injection.
    lines = len(headers)
    if block.count("\n") != lines or block.count("\r") != lines:
        msg = "header names and values must not contain CR or LF"
        raise ValueError(msg)
    extra = ""
    # The transport always gives it (in lower case, unless the caller spelt it): the
    # case-insensitive scan runs only when the exact name is missing.
    if "accept-encoding" not in headers and all(
        name.lower() != "accept-encoding" for name in headers
    ):
        extra += "accept-encoding: gzip, deflate\r\n"
    if body is not None or method in ("POST", "PUT", "PATCH"):
        extra += f"content-length: {len(body) if body else 0}\r\n"
    head = f"{method} {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\n{block}{extra}\r\n"
    encoded = head.encode("utf-8")
    return encoded + body if body else encoded


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeoutError("no response data within the timeout"))


class _Connection(asyncio.Protocol):
    """One keep-alive connection; serves one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int]) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.error: Exception | None = None
        self.closed = False
        self.eof = False  # the server closed its side
        self.paused = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:
            # Bytes nobody asked for (e.g. a 408 on an idle connection): never reuse it.
            self.close()
            return
        try:
            parser.feed(data)
        except (Http1Error, BodyError) as exc:
            self.error = exc
            self.close()
        else:
            if parser.buffered > HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._end_of_input(None)
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end_of_input(exc)

    def _end_of_input(self, cause: Exception | None) -> None:
        """The server sent its last byte: complete a read-until-close body, or fail."""
        parser = self.parser
        if parser is not None and not parser.complete and self.error is None:
            try:
                parser.feed_eof()
            except (Http1Error, BodyError) as error:
                error.__cause__ = cause
                self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, deadline: float) -> None:
        """Wait for the next bytes, the end, or a failure; raise on failure or timeout."""
        if self.error is not None:
            raise self.error
        waiter = self.loop.create_future()
        self._waiter = waiter
        # The loop's timer wheel (up to 10 ms late) rather than a loop timer: this runs
        # once or twice per response, and the timeout nearly never fires.
        timer = call_at(self.loop, deadline, _expire, waiter)
        try:
            await waiter
        finally:
            cancel(timer)
            self._waiter = None
        if self.error is not None:
            raise self.error

    def resume(self) -> None:
        """Resume reading after the consumer took the buffered body."""
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def reusable(self) -> bool:
        """Whether an idle connection still looks open (the server may have closed it)."""
        transport = self.transport
        return not (
            self.closed
            or self.eof
            or self.error is not None
            or transport is None
            or transport.is_closing()
        )

    def close(self) -> None:
        """Drop the connection (never back to a pool)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@attrs.define(eq=False)
class Exchange:
    """One response: status and headers known, the body read with :meth:`read` or :meth:`readany`.

    Call :meth:`release` when done (in a ``finally``): a fully read response hands its
    connection back to the pool; anything else closes it. (Slotted, one per request.)
    """

    _pool: Http1Pool
    _connection: _Connection
    _parser: ResponseParser
    _slot: asyncio.Semaphore
    _deadline_of: Callable[[], float]
    _released: bool = attrs.field(default=False, init=False)

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._parser.status

    @property
    def headers(self) -> dict[str, str]:
        """Response headers, names lower-cased."""
        return self._parser.headers

    async def readany(self) -> bytes:
        """The next body bytes; ``b""`` once the body has ended."""
        parser = self._parser
        connection = self._connection
        while not parser.buffered:
            if parser.complete:
                return b""
            await connection.wait(self._deadline_of())
        data = parser.take()
        connection.resume()
        return data

    async def read(self) -> bytes:
        """The whole (remaining) body."""
        parser = self._parser
        connection = self._connection
        pieces = []
        while not parser.complete:
            await connection.wait(self._deadline_of())
            if parser.buffered > HIGH_WATER:
                pieces.append(parser.take())
                connection.resume()
        pieces.append(parser.take())
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def release(self) -> None:
        """Give the connection back (body fully read) or close it; idempotent."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        parser = self._parser
        connection.parser = None
        parser.close()
        if parser.complete and parser.keep_alive and not connection.closed and not connection.error:
            self._pool.put_back(connection)
        else:
            self._pool.drop(connection)
        self._slot.release()


class Http1Pool:
    """Keep-alive connections per origin, for one event loop.

    ``limit_per_host`` bounds the connections in use per origin (further requests wait for
    one); idle connections are reused newest first and closed after
    :data:`KEEPALIVE_SECONDS`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ssl_context: Callable[[], ssl.SSLContext],
        *,
        limit_per_host: int = 256,
    ) -> None:
        self.loop = loop
        self._ssl_context = ssl_context
        self._limit = limit_per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}
        self._all: set[_Connection] = set()
        self.connections_made = 0

    def put_back(self, connection: _Connection) -> None:
        """Return a healthy connection to its origin's idle list."""
        connection.idle_since = self.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)

    def drop(self, connection: _Connection) -> None:
        """Close a connection and forget it."""
        connection.close()
        self._all.discard(connection)

    async def _connect(self, target: Target, deadline: float, connect: float | None) -> _Connection:
        loop = self.loop
        timeout = deadline - loop.time()
        if connect is not None:
            timeout = min(timeout, connect)
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop, target.origin),
                    target.host,
                    target.port,
                    ssl=self._ssl_context() if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                ),
                max(timeout, 0.0),
            )
        except asyncio.TimeoutError as exc:
            msg = f"connecting to {target.host}:{target.port} timed out"
            raise ReadTimeoutError(msg) from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS verification (ssl.SSLError)
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        self._all.add(connection)
        self.connections_made += 1
        return connection

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest_allowed = self.loop.time() - KEEPALIVE_SECONDS
        while idle:
            connection = idle.pop()
            if not connection.reusable() or connection.idle_since < oldest_allowed:
                self.drop(connection)
                continue
            return connection
        return None

    async def send(
        self,
        method: str,
        target: Target,
        data: bytes,
        *,
        connect: float | None,
        read: float | None,
        total: float | None,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_decoded: int | None = DEFAULT_MAX_BYTES,
    ) -> Exchange:
        """Send one encoded request; return once the response head has arrived.

        A reused keep-alive connection that fails before the server sent any byte of the
        response (it had closed the connection while we were sending) is retried once on
        a fresh connection, as urllib3 and httpcore do: nothing was processed.
        """
        loop = self.loop
        start = loop.time()
        deadline_total = start + total if total is not None else float("inf")

        def deadline_of() -> float:
            if read is None:
                return deadline_total
            return min(loop.time() + read, deadline_total)

        origin = target.origin
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = asyncio.Semaphore(self._limit)
        await slot.acquire()
        connection: _Connection | None = None
        try:
            connection = self._idle_connection(origin)
            while True:
                reused = connection is not None
                if connection is None:
                    connection = await self._connect(target, deadline_total, connect)
                parser = ResponseParser(
                    head_request=method == "HEAD", max_bytes=max_bytes, max_decoded=max_decoded
                )
                connection.parser = parser
                connection.error = None
                assert connection.transport is not None  # noqa: S101 - set by connection_made
                connection.transport.write(data)
                try:
                    while not parser.head_done:
                        await connection.wait(deadline_of())
                except (ConnectionClosedError, OSError):
                    if not reused or parser.received:
                        raise
                    # The server closed the idle connection as we reused it: once more,
                    # on a fresh connection.
                    connection.parser = None
                    self.drop(connection)
                    connection = None
                    continue
                break
        except BaseException:
            # Cancelled or failed mid-exchange: the connection's state is unknown, drop it.
            if connection is not None:
                connection.parser = None
                self.drop(connection)
            slot.release()
            raise
        return Exchange(self, connection, parser, slot, deadline_of)

    def close(self) -> None:
        """Close every connection, idle or not."""
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
