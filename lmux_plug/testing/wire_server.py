"""The one fake HTTP/1.1 server of the project: scripted answers, recorded requests, faults.

Every fake provider in the tests is this server with a *scenario*: a function of the
:class:`CapturedRequest` returning a :class:`Reply`. The contract suite's wire server
(``lmux_plug_contract.server``) and the fake OpenAI server
(:mod:`lmux_plug.testing.fake_openai`) are configurations of it; a plugin's end-to-end tests
script it with their own wire's answers::

    with WireServer(lambda request: Reply.with_json({"ok": True})) as server:
        ...  # server.origin() is "http://127.0.0.1:<port>"; server.requests holds the calls

It serves from its own event loop in a daemon thread (``with``: start/stop), so the sync
API, which blocks the calling thread, can call it, or from the running loop (``async
with``), which costs no thread. Replies can wait (``delay``), stream frames with pauses,
cut the body, reset the connection (RST), or hang until the client leaves, which the
server records (to prove a stream closed early was released).

An ``asyncio.Protocol``, not a web framework: faults like a half-written chunked body or a
reset need control of the socket, and the benchmarks need a server that is not the
bottleneck. Requests are parsed by llhttp (``httptools``), the parser the client uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections import deque
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlsplit

import attrs
import httptools

__all__ = ["HANG_LIMIT", "CapturedRequest", "Reply", "Scenario", "WireServer"]

#: A hanging reply never outlives this many seconds, so no test can wait forever.
HANG_LIMIT = 15.0
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@attrs.frozen
class CapturedRequest:
    """A request the server received; header names are in lower case.

    The key, if any, is in ``headers`` or ``query``.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    #: The request-target as sent: path and query, undecoded.
    target: str = attrs.field(default="", kw_only=True)
    # The decoded body, once decoded: a scenario, its wire format and the test read it.
    _decoded: list[Any] = attrs.field(factory=list, init=False, repr=False, eq=False)

    def json(self) -> Any:
        """The body decoded as JSON (``None`` if it is not JSON); the same object each call."""
        if not self._decoded:
            try:
                self._decoded.append(json.loads(self.body) if self.body else None)
            except ValueError:
                self._decoded.append(None)
        return self._decoded[0]

    @property
    def model_hint(self) -> str:
        """The model named in the body (``"model"``) or the path (``models/<id>:...``)."""
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return str(body["model"])
        if "/models/" in self.path:
            return unquote(self.path.split("/models/", 1)[1].rsplit(":", 1)[0])
        return "contract-model"


@attrs.frozen
class Reply:
    """What the server does with one request.

    ``chunks`` are written one by one (``pause`` seconds apart) with chunked transfer
    encoding when ``stream`` is set, else as one body with a ``content-length``. ``delay``
    seconds pass before anything is sent. ``before``: ``"reset"`` drops the connection with
    an RST before answering, ``"hang"`` never answers. ``after``: ``"finish"`` ends the body
    properly, ``"cut"`` closes the socket mid-body, ``"reset"`` sends an RST, ``"hang"``
    keeps the connection open until the client leaves (the server records when it did).
    A ``connection: close`` header closes the connection after a finished reply. Header
    names are sent in the case given.
    """

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    chunks: Sequence[bytes] = ()
    stream: bool = False
    pause: float = 0.0
    before: Literal["none", "reset", "hang"] = "none"
    after: Literal["finish", "cut", "reset", "hang"] = "finish"
    delay: float = 0.0

    @classmethod
    def with_body(
        cls,
        body: bytes | str,
        content_type: str = "application/json",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One body sent whole, with its content type (``headers`` may add or override)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status, {"content-type": content_type, **(headers or {})}, (data,))

    @classmethod
    def with_json(
        cls, value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """``value`` as a JSON body."""
        return cls.with_body(json.dumps(value), status=status, headers=headers)


Scenario = Callable[[CapturedRequest], Reply]


class WireServer:
    """Serve ``scenario`` on 127.0.0.1: ``with`` (own thread) or ``async with`` (this loop).

    Requests are answered by replies queued with :meth:`enqueue`, else by ``scenario`` (a
    function of the request, or one :class:`Reply` for every request).
    ``disconnects`` holds the times clients left a reply before its end (mid-stream or
    while it hung). ``keep_alive`` serves several requests per connection (the benchmarks
    need it); off, every answer closes its connection, as the contract suite wants.
    ``record`` keeps every :class:`CapturedRequest` in ``requests`` (a long benchmark turns
    it off). ``stats`` counts ``requests``, ``connections``, ``disconnects`` and
    ``status_<code>`` answers. ``request_id_header`` (``"request-id"``, say) numbers the
    answers ``req_1``, ``req_2``... in that header, as real APIs do, unless a reply sets it.
    """

    def __init__(
        self,
        scenario: Scenario | Reply | None = None,
        *,
        keep_alive: bool = False,
        port: int = 0,
        record: bool = True,
        hang_limit: float = HANG_LIMIT,
        request_id_header: str | None = None,
    ) -> None:
        self.requests: list[CapturedRequest] = []
        self.disconnects: list[float] = []
        self.stats: Counter[str] = Counter()
        self.open_connections = 0
        self.port = port
        self.keep_alive = keep_alive
        self.record = record
        self.hang_limit = hang_limit
        self.request_id_header = request_id_header
        self._scenario = scenario
        self._queue: deque[Reply | Scenario] = deque()
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle in the running loop ---------------------------------------------------------

    async def astart(self) -> WireServer:
        """Listen on 127.0.0.1 (a free port unless one was given) in the running loop."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), "127.0.0.1", self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def astop(self) -> None:
        """Stop listening and drop every connection (hanging ones too)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = [c.task for c in self._connections if c.task is not None]
        for connection in list(self._connections):
            connection.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)

    async def __aenter__(self) -> WireServer:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    # -- lifecycle in a thread -----------------------------------------------------------------

    def start(self) -> WireServer:
        """Bind a free port on 127.0.0.1 and serve from a background thread."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.astart())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="lmux-wire-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            msg = "wire server did not start"
            raise RuntimeError(msg)
        return self

    def stop(self) -> None:
        """Stop the server started by :meth:`start` and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------------------

    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def base_url_for(self, real_base_url: str) -> str:
        """The server's origin plus the path of ``real_base_url``, so paths match the real API."""
        return self.origin() + urlsplit(real_base_url).path.rstrip("/")

    def serve(self, scenario: Scenario | Reply) -> None:
        """Answer with ``scenario`` (or one fixed reply) from now; forget requests and queue."""
        with self._lock:
            self._scenario = scenario
            self._queue.clear()
            self.requests = []
            self.disconnects = []

    def enqueue(self, *replies: Reply | Scenario) -> None:
        """Answer the next requests with ``replies`` (or scenarios), then the scenario."""
        with self._lock:
            self._queue.extend(replies)

    async def await_disconnects(self, count: int, timeout: float) -> bool:
        """:meth:`wait_disconnects` without blocking the loop (the server's, maybe)."""
        return await asyncio.to_thread(self.wait_disconnects, count, timeout)

    def wait_disconnects(self, count: int, timeout: float) -> bool:
        """Wait until clients left ``count`` replies before their end (polls, bounded)."""
        deadline = time.monotonic() + timeout
        while len(self.disconnects) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.disconnects) >= count

    # -- serving -------------------------------------------------------------------------------

    def _reply_to(self, request: CapturedRequest) -> Reply:
        with self._lock:
            self.stats["requests"] += 1
            if self.record:
                self.requests.append(request)
            scenario = self._queue.popleft() if self._queue else self._scenario
        if isinstance(scenario, Reply):
            reply = scenario
        elif scenario is None:
            reply = Reply.with_body("no scenario set", "text/plain", status=500)
        else:
            try:
                reply = scenario(request)
            except Exception as exc:  # noqa: BLE001 - a scenario bug is answered as a 500
                reply = Reply.with_body(f"scenario failed: {exc!r}", "text/plain", status=500)
        name = self.request_id_header
        if name is None or name.lower() in {k.lower() for k in reply.headers}:
            return reply
        return attrs.evolve(reply, headers={**reply.headers, name: f"req_{self.stats['requests']}"})

    def _record_disconnect(self) -> None:
        with self._lock:
            self.disconnects.append(time.monotonic())


def _chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed by llhttp, answered one after the other."""

    def __init__(self, server: WireServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[tuple[CapturedRequest, bool] | None] = deque()
        self.wakeup = asyncio.Event()
        self.closed = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.task: asyncio.Task[None] | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a TCP server
        self.transport = transport
        self.server._connections.add(self)  # noqa: SLF001 - the server's own helper
        self.server.open_connections += 1
        self.server.stats["connections"] += 1
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.server._connections.discard(self)  # noqa: SLF001
        self.server.open_connections -= 1
        self.server.stats["disconnects"] += 1
        self.closed.set()
        self.writable.set()
        self._push(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # llhttp callbacks

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        target = self._url.decode("latin-1")
        parts = urlsplit(target)
        request = CapturedRequest(
            self.parser.get_method().decode("latin-1"),
            parts.path,
            dict(parse_qsl(parts.query)),
            self._headers,
            b"".join(self._body),
            target=target,
        )
        self._push((request, self.parser.should_keep_alive()))

    # serving

    def _push(self, item: tuple[CapturedRequest, bool] | None) -> None:
        self.queue.append(item)
        self.wakeup.set()

    async def _serve(self) -> None:
        try:
            while True:
                while not self.queue:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                item = self.queue.popleft()
                if item is None or not await self._answer(*item):
                    return
        except ConnectionError:
            return  # the client left mid-answer
        finally:
            self.close()

    async def _answer(self, request: CapturedRequest, keep_alive: bool) -> bool:
        """Answer one request; return whether the connection serves another one."""
        reply = self.server._reply_to(request)  # noqa: SLF001
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.before == "reset":
            self.reset()
            return False
        if reply.before == "hang":
            await self._hang()
            return False
        # The names keep the case the reply gave (HTTP/1.1 servers send mixed case); the
        # framing headers are the server's own.
        given = {k.lower(): k for k in reply.headers}
        framing = ("connection", "content-length", "transfer-encoding")
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in framing}
        if "content-type" not in given:
            headers["content-type"] = "application/json"
        stays_open = (
            self.server.keep_alive
            and keep_alive
            and reply.after == "finish"
            and reply.headers.get(given.get("connection", ""), "").lower() != "close"
        )
        if not stays_open:
            headers["connection"] = "close"
        body = b""
        if reply.stream:
            headers["transfer-encoding"] = "chunked"
            if "cache-control" not in given:
                headers["cache-control"] = "no-cache"
        else:
            body = b"".join(reply.chunks)
            headers["content-length"] = str(len(body) + (64 if reply.after == "cut" else 0))
        self.server.stats[f"status_{reply.status}"] += 1
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        status = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        try:
            self._send((status + head + "\r\n").encode("latin-1") + body)
            if reply.stream:
                for chunk in reply.chunks:
                    if chunk:  # one write a chunk: the client's reads may split there
                        self._send(_chunk(chunk))
                    if reply.pause:
                        await asyncio.sleep(reply.pause)
                    elif not self.writable.is_set():
                        await self._drain()
                if reply.after == "finish":
                    self._send(b"0\r\n\r\n")
            await self._drain()
        except ConnectionError:
            # The client left while we were still writing: the release being measured.
            self.server._record_disconnect()  # noqa: SLF001
            return False
        if reply.after == "reset":
            self.reset()
        elif reply.after == "hang":
            await self._hang()
        # "cut" and "connection: close": the caller closes the socket (FIN after the data).
        return stays_open

    def _send(self, data: bytes) -> None:
        if self.closed.is_set() or self.transport is None:
            raise ConnectionResetError
        self.transport.write(data)

    async def _drain(self) -> None:
        """Wait while the client does not read (flow control), as ``drain()`` does."""
        if not self.writable.is_set():
            await self.writable.wait()
        if self.closed.is_set():
            raise ConnectionResetError

    async def _hang(self) -> None:
        """Wait until the client leaves (recorded) or the hang limit passes (not recorded)."""
        try:
            await asyncio.wait_for(self.closed.wait(), self.server.hang_limit)
        except asyncio.TimeoutError:
            return
        self.server._record_disconnect()  # noqa: SLF001

    def close(self) -> None:
        """Close after the data written so far (a FIN)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.abort()

    def reset(self) -> None:
        """Drop the connection with an RST, as a crashed or overloaded server does."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send an RST: a real connection reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
