"""A local wire server on 127.0.0.1 that answers in a provider's wire format, or fails.

It runs its own event loop in a daemon thread, so it serves the sync API (which blocks the
calling thread) as well as async callers. Each request is answered by the current
*scenario*: a function of the :class:`CapturedRequest` returning a :class:`Reply`. Replies
can stream frames with pauses, cut the body, reset the connection (RST), or hang until the
client leaves, which the server records (to prove a stream closed early was released).

Plain asyncio streams, not a web framework: faults like a half-written chunked body or a
reset need control of the socket.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from lmux_plug_contract.wires._base import CapturedRequest, Reply

__all__ = ["Scenario", "WireServer"]

Scenario = Callable[[CapturedRequest], Reply]
_REASONS = {
    200: "OK",
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
HANG_LIMIT = 15.0  # a hanging reply never outlives this, so no test can wait forever


class WireServer:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self) -> None:
        self.requests: list[CapturedRequest] = []
        self.disconnects: list[float] = []
        self._scenario: Scenario | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self.port = 0
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> WireServer:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(boot())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="lmux-contract-wire-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            msg = "wire server did not start"
            raise RuntimeError(msg)
        return self

    def stop(self) -> None:
        """Close the listening socket and the loop."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._server = None

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------

    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def base_url_for(self, real_base_url: str) -> str:
        """The server's origin plus the path of ``real_base_url``, so paths match the real API."""
        path = urlsplit(real_base_url).path.rstrip("/")
        return self.origin() + path

    def serve(self, scenario: Scenario) -> None:
        """Answer every following request with ``scenario``; forget earlier requests."""
        with self._lock:
            self._scenario = scenario
            self.requests = []
            self.disconnects = []

    def wait_disconnects(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` hanging replies saw their client leave."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.disconnects) >= count:
                return True
            time.sleep(0.01)
        return len(self.disconnects) >= count

    # -- serving --------------------------------------------------------------------------

    async def _read_request(self, reader: asyncio.StreamReader) -> CapturedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        length = int(headers.get("content-length", "0") or 0)
        if length:
            body = await reader.readexactly(length)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        parts = urlsplit(target)
        return CapturedRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
                scenario = self._scenario
            if scenario is None:
                reply = Reply(500, {"content-type": "text/plain"}, (b"no scenario set",))
            else:
                try:
                    reply = scenario(request)
                except Exception as exc:  # noqa: BLE001 - report scenario bugs as a 500
                    reply = Reply(
                        500, {"content-type": "text/plain"}, (f"scenario failed: {exc!r}".encode(),)
                    )
            try:
                await self._answer(reply, reader, writer)
            except ConnectionError:
                # The client left while we were still writing: for a reply meant to hang
                # until the client leaves, that is the release being measured.
                if reply.after == "hang":
                    self._record_disconnect()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _answer(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if reply.before == "reset":
            _reset(writer)
            return
        if reply.before == "hang":
            await self._hang(reader)
            return
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        headers = {k.lower(): v for k, v in reply.headers.items()}
        headers.setdefault("content-type", "application/json")
        headers["connection"] = "close"
        if reply.stream:
            headers["transfer-encoding"] = "chunked"
            headers["cache-control"] = "no-cache"
        else:
            body = b"".join(reply.chunks)
            headers["content-length"] = str(len(body) + (64 if reply.after == "cut" else 0))
        head.extend(f"{k}: {v}" for k, v in headers.items())
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        if reply.stream:
            for chunk in reply.chunks:
                if chunk:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    await writer.drain()
                if reply.pause:
                    await asyncio.sleep(reply.pause)
        else:
            writer.write(body)
            await writer.drain()
        if reply.after == "finish":
            if reply.stream:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        elif reply.after == "reset":
            _reset(writer)
        elif reply.after == "hang":
            await self._hang(reader)
        # "cut": close without finishing the body (the finally block closes the socket)

    async def _hang(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await asyncio.wait_for(reader.read(1024), HANG_LIMIT)
                if not data:
                    break
        except asyncio.TimeoutError:
            return
        except ConnectionError:
            # Closing a socket with unread data sends an RST instead of a FIN: still a release.
            pass
        self._record_disconnect()

    def _record_disconnect(self) -> None:
        with self._lock:
            self.disconnects.append(time.monotonic())


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send an RST: a real connection reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
