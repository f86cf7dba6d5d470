"""A lean HTTP/1.1 client: keep-alive connections per origin over asyncio protocols.

Why it exists: on a loopback OpenAI-format server a bare ``aiohttp.ClientSession`` call
costs about 90 µs of client CPU, of which a raw asyncio protocol needs about 35; the rest is
generic machinery (redirects, cookies, tracing, URL objects, stream readers) a provider call
does not use. :class:`lmux_plug.http.Transport` sends plain ``http``/``https`` requests that
need no proxy through this module, and everything else through aiohttp (proxies, and any
session patched by vcrpy or aioresponses, so cassettes and mocks keep working).

Two halves: :class:`ResponseParser` is sans-IO (bytes in, status, headers and body out; the
tests feed it arbitrary byte splits), and :class:`Http1Pool` drives it over sockets.
Failures leave as :class:`Http1Error` subclasses, which the transport maps to
:mod:`lmux_plug.errors`.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

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
MAX_CHUNK_LINE = 4096
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


def _decompressor(encoding: str) -> zlib._Decompress | None:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        # "deflate" means zlib-wrapped data; 32 + MAX_WBITS also accepts a gzip header.
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    msg = f"unsupported content-encoding {encoding!r}"
    raise ProtocolError(msg)


class ResponseParser:
    """Parse one HTTP/1.1 response from bytes fed in any split.

    After :meth:`feed` (and :meth:`feed_eof` when the peer closed), ``head_done`` says the
    status and headers are known, :meth:`take` returns the body bytes decoded so far
    (de-chunked and decompressed), and ``complete`` says the response has ended. Header
    names are lower-cased; repeated headers are joined with ``", "``. Interim ``1xx``
    responses are skipped. ``keep_alive`` says whether the connection may be reused.
    """

    __slots__ = (
        "_buffer",
        "_chunk_state",
        "_decoder",
        "_head_request",
        "_mode",
        "_pieces",
        "_remaining",
        "buffered",
        "complete",
        "head_done",
        "headers",
        "keep_alive",
        "status",
    )

    def __init__(self, *, head_request: bool = False) -> None:
        self._head_request = head_request
        self._buffer = b""
        self._pieces: list[bytes] = []
        self._mode = ""  # "length", "chunked" or "close" once the head is parsed
        self._remaining = 0
        self._chunk_state = "size"  # "size", "data", "crlf" or "trailer"
        self._decoder: zlib._Decompress | None = None
        self.buffered = 0  # decoded body bytes waiting in take()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.keep_alive = True

    def feed(self, data: bytes) -> None:
        """Consume bytes received from the server."""
        if self.complete:
            if data:
                # Bytes after a complete response (no pipelining here): never reuse this.
                self.keep_alive = False
            return
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        if not self.head_done:
            rest = self._parse_heads(buffer)
            if rest is None:  # the head is still incomplete, or the response had no body
                return
            buffer = rest
        if buffer:
            self._parse_body(buffer)

    def feed_eof(self) -> None:
        """The server closed its side; raise :class:`ProtocolError` if a response is cut."""
        if self.complete:
            return
        if self.head_done and self._mode == "close":
            self._finish()
            return
        if not self.head_done:
            msg = "connection closed before a complete response head"
        else:
            msg = "connection closed in the middle of the response body"
        raise ConnectionClosedError(msg)

    def take(self) -> bytes:
        """Return (and forget) the body bytes decoded so far."""
        pieces = self._pieces
        if not pieces:
            return b""
        self._pieces = []
        self.buffered = 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    # -- head ---------------------------------------------------------------------------

    def _parse_heads(self, buffer: bytes) -> bytes | None:
        """Parse heads (skipping interim ones); return the bytes after the final head.

        None means there is nothing more to parse: the head is incomplete (kept for the
        next feed) or the response is complete without a body.
        """
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    msg = f"response head larger than {MAX_HEAD} bytes"
                    raise ProtocolError(msg)
                self._buffer = buffer
                return None
            if end > MAX_HEAD:
                msg = f"response head larger than {MAX_HEAD} bytes"
                raise ProtocolError(msg)
            interim = self._parse_head(buffer[:end])
            buffer = buffer[end + 4 :]
            if interim:
                continue
            if self.complete:
                if buffer:
                    self.keep_alive = False  # bytes after a bodiless response
                return None
            return buffer

    def _parse_head(self, head: bytes) -> bool:
        """Parse a status line and headers; return True for an interim (1xx) response."""
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            msg = f"not an HTTP/1.x status line: {lines[0][:100]!r}"
            raise ProtocolError(msg)
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return True
        headers: dict[str, str] = {}
        last = ""
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t"):
                if not last:
                    msg = "header continuation line before any header"
                    raise ProtocolError(msg)
                # Obsolete line folding: the continuation belongs to the previous value.
                headers[last] = f"{headers[last]} {line.strip().decode('latin-1')}"
                continue
            name, sep, value = line.partition(b":")
            name = name.strip()
            if not sep or not name:
                msg = f"malformed header line: {line[:100]!r}"
                raise ProtocolError(msg)
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
            last = key
        self.status = status
        self.headers = headers
        self.head_done = True
        connection = headers.get("connection", "").lower()
        if version == b"HTTP/1.0":
            self.keep_alive = "keep-alive" in connection
        else:
            self.keep_alive = "close" not in connection
        self._decoder = _decompressor(headers.get("content-encoding", "").strip().lower())
        self._choose_body_mode(status, headers)
        return False

    def _choose_body_mode(self, status: int, headers: Mapping[str, str]) -> None:
        if self._head_request or status in _NO_BODY_STATUSES or status == 101:
            self._finish()
            return
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.lower().rsplit(",", 1)[-1].strip() == "chunked":
                self._mode = "chunked"
            else:
                self._mode = "close"  # RFC 9112 6.3: read until the server closes
                self.keep_alive = False
            return
        length = headers.get("content-length")
        if length is None:
            self._mode = "close"
            self.keep_alive = False
            return
        values = {v.strip() for v in length.split(",")}
        if len(values) != 1 or not (size := values.pop()).isdigit():
            msg = f"invalid content-length {length!r}"
            raise ProtocolError(msg)
        self._mode = "length"
        self._remaining = int(size)
        if self._remaining == 0:
            self._finish()

    # -- body ---------------------------------------------------------------------------

    def _parse_body(self, buffer: bytes) -> None:
        if self._mode == "length":
            if len(buffer) < self._remaining:
                self._remaining -= len(buffer)
                self._emit(buffer)
                return
            self._emit(buffer[: self._remaining])
            if len(buffer) > self._remaining:
                self.keep_alive = False
            self._remaining = 0
            self._finish()
        elif self._mode == "chunked":
            self._parse_chunked(buffer)
        else:
            self._emit(buffer)

    def _parse_chunked(self, buffer: bytes) -> None:
        position = 0
        size = len(buffer)
        while position < size and not self.complete:
            state = self._chunk_state
            if state == "data":
                end = min(size, position + self._remaining)
                self._emit(buffer[position:end])
                self._remaining -= end - position
                position = end
                if self._remaining == 0:
                    self._chunk_state = "crlf"
                continue
            end = buffer.find(b"\r\n", position)
            if end < 0:
                if size - position > MAX_CHUNK_LINE:
                    msg = "chunk size line too long"
                    raise ProtocolError(msg)
                self._buffer = buffer[position:]
                return
            line = buffer[position:end]
            position = end + 2
            if state == "crlf":
                if line:
                    msg = "missing CRLF after a chunk"
                    raise ProtocolError(msg)
                self._chunk_state = "size"
            elif state == "size":
                text = line.split(b";", 1)[0].strip()
                try:
                    self._remaining = int(text, 16)
                except ValueError:
                    self._remaining = -1
                if self._remaining < 0 or not text or text.startswith((b"+", b"-", b"0x")):
                    msg = f"invalid chunk size {line[:40]!r}"
                    raise ProtocolError(msg)
                self._chunk_state = "data" if self._remaining else "trailer"
            elif not line:  # state == "trailer": an empty line ends the trailers
                self._finish()
        if self.complete and position < size:
            self.keep_alive = False

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                msg = f"cannot decompress the response body: {exc}"
                raise ProtocolError(msg) from exc
            if not data:
                return
        self._pieces.append(data)
        self.buffered += len(data)

    def _finish(self) -> None:
        if self._decoder is not None:
            try:
                tail = self._decoder.flush()
            except zlib.error as exc:  # pragma: no cover - flush reports errors rarely
                msg = f"cannot decompress the response body: {exc}"
                raise ProtocolError(msg) from exc
            if tail:
                self._pieces.append(tail)
                self.buffered += len(tail)
        self.complete = True


# --------------------------------------------------------------------------- requests


class Target:
    """Where a URL goes: the origin to connect to and the request line's target, encoded."""

    __slots__ = ("host", "host_header", "origin", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            msg = f"not an http(s) URL: {url!r}"
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
    lowered = {name.lower() for name in headers}
    extra = ""
    if "accept-encoding" not in lowered:
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
        self.error: BaseException | None = None
        self.closed = False
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
        except Http1Error as exc:
            self.error = exc
            self.close()
        else:
            if parser.buffered > HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
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
            except Http1Error as error:
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
        timer = self.loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self.error is not None:
            raise self.error

    def resume(self) -> None:
        """Resume reading after the consumer took the buffered body."""
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        """Drop the connection (never back to a pool)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Exchange:
    """One response: status and headers known, the body read with :meth:`read` or :meth:`readany`.

    Call :meth:`release` when done (in a ``finally``): a fully read response hands its
    connection back to the pool; anything else closes it.
    """

    __slots__ = ("_connection", "_deadline_of", "_parser", "_pool", "_released", "_slot")

    def __init__(
        self,
        pool: Http1Pool,
        connection: _Connection,
        parser: ResponseParser,
        slot: asyncio.Semaphore,
        deadline_of: Callable[[], float],
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._parser = parser
        self._slot = slot
        self._deadline_of = deadline_of
        self._released = False

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
            if connection.closed or connection.idle_since < oldest_allowed:
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
    ) -> Exchange:
        """Send one encoded request; return once the response head has arrived."""
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
            if connection is None:
                connection = await self._connect(target, deadline_total, connect)
            parser = ResponseParser(head_request=method == "HEAD")
            connection.parser = parser
            connection.error = None
            assert connection.transport is not None  # noqa: S101 - set by connection_made
            connection.transport.write(data)
            while not parser.head_done:
                await connection.wait(deadline_of())
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
