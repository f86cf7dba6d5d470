"""Hostile and broken answers against real sockets, on both transport paths (issue 12.12-12.15).

A raw asyncio server on 127.0.0.1 answers each request with scripted bytes, so the answers
can be what no well-behaved server library would send: smuggled responses, bombs, bodies
cut short. Every test runs on the lean HTTP/1.1 path and on the aiohttp path
(``fast_path=False``): one policy for both.
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

import pytest

from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import ResponseTooLargeError
from lmux_plug.http import Timeout
from lmux_plug.http import Transport
from tests.helpers import read_request

FRESH = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"fresh": true}'
SMUGGLED = b'HTTP/1.1 200 OK\r\ncontent-length: 18\r\n\r\n{"smuggled": true}'


class RawServer:
    """Answers the n-th request (over all connections) with ``script(n)``; counts connections.

    ``script`` returns the bytes to send and whether to close the connection afterwards.
    """

    def __init__(self, script: Callable[[int], tuple[bytes, bool]]) -> None:
        self.script = script
        self.requests = 0
        self.connections = 0
        self.url = ""
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # The transport under test still holds its kept-alive connections, and each handler
        # waits for a next request on one. Since Python 3.12.1 `wait_closed` waits for every
        # handler, so without hanging up here it never returns; close them (EOF ends the
        # handler), and bound the wait so a handler that ignores EOF fails instead of hanging.
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            await asyncio.wait_for(asyncio.gather(*self._handlers), 10)
        await asyncio.wait_for(self._server.wait_closed(), 10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while await read_request(reader) is not None:
                index = self.requests
                self.requests += 1
                data, close = self.script(index)
                writer.write(data)
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client hung up, even mid-request: not a server failure
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture(params=["lean", "aiohttp"])
async def make_transport(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Transport]]:
    made: list[Transport] = []

    def make(**kwargs: Any) -> Transport:
        kwargs.setdefault("timeout", Timeout(connect=2, read=5, total=20))
        transport = Transport(fast_path=request.param == "lean", **kwargs)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


async def _fetch(transport: Transport, url: str, mode: str) -> bytes:
    """The whole body, read with ``request`` or with ``stream`` and ``iter_bytes``."""
    if mode == "request":
        return (await transport.request("POST", url, json_body={"q": 1})).body
    response = await transport.stream("POST", url, json_body={"q": 1})
    try:
        return b"".join([chunk async for chunk in response.iter_bytes()])
    finally:
        response.close()


# -- 12.12 smuggling and framing that aiohttp refuses ------------------------------------------


async def test_content_length_with_transfer_encoding_is_refused_and_not_reused(
    make_transport: Callable[..., Transport],
) -> None:
    poisoned = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
        b"0\r\n\r\n" + SMUGGLED
    )

    def script(n: int) -> tuple[bytes, bool]:
        return (poisoned if n == 0 else FRESH), False

    transport = make_transport()
    async with RawServer(script) as server:
        with pytest.raises(ProviderError, match="Content-Length"):
            await transport.request("POST", server.url, json_body={})
        answers = [
            (await transport.request("POST", server.url, json_body={})).json() for _ in range(5)
        ]
    assert answers == [{"fresh": True}] * 5
    assert server.connections == 2  # the poisoned connection was dropped, never reused


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n", "status"),
        (b"HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok", "header"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
            "chunk size",
        ),
        (b"HTTP/1.1 200 OK\r\nx-a: a\x00b\r\ncontent-length: 0\r\n\r\n", "header"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\n" + b"x-many: 1\r\n" * 200 + b"content-length: 0\r\n\r\n", "header"),
    ],
)
async def test_framing_aiohttp_refuses_is_refused_on_both_paths(
    make_transport: Callable[..., Transport], answer: bytes, why: str
) -> None:
    def script(n: int) -> tuple[bytes, bool]:
        return (answer if n == 0 else FRESH), False

    transport = make_transport()
    async with RawServer(script) as server:
        with pytest.raises(ProviderError) as info:
            await transport.request("POST", server.url, json_body={})
        assert why.lower() in str(info.value).lower() or "400" in str(info.value)
        assert (await transport.request("POST", server.url, json_body={})).json() == {"fresh": True}
    assert server.connections == 2


async def test_unbounded_trailers_are_refused_with_bounded_memory(
    make_transport: Callable[..., Transport],
) -> None:
    trailer_line = b"x-trailer: " + b"t" * 100 + b"\r\n"
    endless = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + (
        trailer_line * 20_000
    )

    transport = make_transport()
    async with RawServer(lambda _n: (endless, False)) as server:
        with pytest.raises(ProviderError):
            await transport.request("POST", server.url, json_body={})


async def test_caller_headers_cannot_set_framing_headers(
    make_transport: Callable[..., Transport],
) -> None:
    transport = make_transport()
    async with RawServer(lambda _n: (FRESH, False)) as server:
        for headers in (
            {"Host": "evil.example"},
            {"content-length": "0"},
            {"Transfer-Encoding": "chunked"},
            {"CONNECTION": "close"},
            {"x-a": "1", "X-A": "2"},
            {"x-a": "1\r\nhost: evil.example"},
            {"x a": "1"},
        ):
            with pytest.raises(InvalidRequestError):
                await transport.request("POST", server.url, headers=headers, json_body={})
            with pytest.raises(InvalidRequestError):
                await transport.stream("POST", server.url, headers=headers, json_body={})
    assert server.connections == 0  # refused before any I/O


# -- 12.13 size limits and decompression bombs -------------------------------------------------

BOMB_SIZE = 512 * 1024 * 1024


def _gzip_bomb() -> bytes:
    """512 MiB of zeros as gzip (about 500 KiB on the wire), built once, incrementally."""
    if not _BOMB:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = bytes(1024 * 1024)
        pieces = [compressor.compress(block) for _ in range(BOMB_SIZE // len(block))]
        pieces.append(compressor.flush())
        _BOMB.append(b"".join(pieces))
    return _BOMB[0]


_BOMB: list[bytes] = []


def _bomb_answer(*, chunked: bool) -> bytes:
    bomb = _gzip_bomb()
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-type: text/event-stream\r\n"
    if not chunked:
        return head + b"content-length: %d\r\n\r\n" % len(bomb) + bomb
    step = 16 * 1024
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(bomb[i : i + step]), bomb[i : i + step])
        for i in range(0, len(bomb), step)
    )
    return head + b"transfer-encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


@pytest.mark.parametrize("mode", ["request", "stream"])
@pytest.mark.parametrize("chunked", [False, True])
async def test_gzip_bomb_ends_in_a_typed_error_with_bounded_memory(
    make_transport: Callable[..., Transport], mode: str, chunked: bool
) -> None:
    answer = _bomb_answer(chunked=chunked)
    transport = make_transport()  # the default limits: 64 MiB
    async with RawServer(lambda _n: (answer, False)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError, match="decompressed"):
                await _fetch(transport, server.url, mode)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 100 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


async def test_deflate_bomb_and_a_small_configured_limit(
    make_transport: Callable[..., Transport],
) -> None:
    bomb = zlib.compress(bytes(8 * 1024 * 1024), 9)
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ncontent-length: %d\r\n\r\n" % len(bomb)
    ) + bomb
    transport = make_transport(max_decompressed_bytes=1024 * 1024)
    async with RawServer(lambda _n: (answer, False)) as server:
        with pytest.raises(ResponseTooLargeError, match="1048576"):
            await transport.request("POST", server.url, json_body={})
        with pytest.raises(ResponseTooLargeError):
            await _fetch(transport, server.url, "stream")


async def test_oversized_plain_bodies_streamed_and_not(
    make_transport: Callable[..., Transport],
) -> None:
    body = b"x" * (3 * 1024 * 1024)
    declared = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    step = 64 * 1024
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (step, body[i : i + step]) for i in range(0, len(body), step))
        + b"0\r\n\r\n"
    )
    answers = [declared, chunked, declared, chunked]
    transport = make_transport(max_response_bytes=1024 * 1024)
    async with RawServer(lambda n: (answers[n % 4], False)) as server:
        for mode in ("request", "request", "stream", "stream"):
            with pytest.raises(ResponseTooLargeError, match="response body larger than"):
                await _fetch(transport, server.url, mode)


async def test_an_encoding_we_did_not_ask_for_is_a_typed_error(
    make_transport: Callable[..., Transport],
) -> None:
    answer = b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 4\r\n\r\n\x1b\x03\x00\x00"
    transport = make_transport()
    async with RawServer(lambda _n: (answer, False)) as server:
        with pytest.raises(ProviderError, match="unsupported content-encoding 'br'"):
            await transport.request("POST", server.url, json_body={})


# -- 12.15 bodies cut short, stale keep-alive connections ---------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial": ',
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\ndata:\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nda",
        # complete framing around a gzip stream that stops before its end marker
        (
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 20\r\n\r\n"
            + gzip.compress(b"x" * 1000)[:20]
        ),
    ],
)
@pytest.mark.parametrize("mode", ["request", "stream"])
async def test_a_body_cut_short_never_looks_complete(
    make_transport: Callable[..., Transport], answer: bytes, mode: str
) -> None:
    transport = make_transport()
    async with RawServer(lambda _n: (answer, True)) as server:
        with pytest.raises(ProviderError, match=r"truncated|malformed|closed|ends before"):
            await _fetch(transport, server.url, mode)


async def test_a_reused_connection_closed_before_answering_is_retried_once() -> None:
    """The server closes a kept-alive connection just as the next request arrives on it."""

    def script(n: int) -> tuple[bytes, bool]:
        if n == 1:
            return b"", True  # the second request (on the reused connection): hang up
        return FRESH, False

    transport = Transport()
    try:
        async with RawServer(script) as server:
            first = await transport.request("POST", server.url, json_body={})
            second = await transport.request("POST", server.url, json_body={})
        assert first.json() == second.json() == {"fresh": True}
        assert server.connections == 2
        assert server.requests == 3  # the lost one, then the retry on a fresh connection
    finally:
        await transport.aclose()


async def test_a_reused_connection_that_fails_mid_answer_is_not_retried() -> None:
    def script(n: int) -> tuple[bytes, bool]:
        if n == 1:
            return b"HTTP/1.1 200 OK\r\ncontent-le", True
        return FRESH, False

    transport = Transport()
    try:
        async with RawServer(script) as server:
            await transport.request("POST", server.url, json_body={})
            with pytest.raises(ProviderError, match="closed before a complete response head"):
                await transport.request("POST", server.url, json_body={})
        assert server.requests == 2  # no second try: the server had started answering
    finally:
        await transport.aclose()


async def test_a_connection_closed_while_idle_is_detected_before_reuse() -> None:
    transport = Transport()
    try:
        async with RawServer(lambda _n: (FRESH, True)) as server:
            for _ in range(4):
                assert (await transport.request("POST", server.url, json_body={})).json() == {
                    "fresh": True
                }
                await asyncio.sleep(0.02)  # the server's close reaches the idle connection
        assert server.requests == 4  # no request was lost on a dead connection and retried
        assert server.connections == 4
    finally:
        await transport.aclose()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "64", True])
def test_limits_are_checked_when_the_transport_is_made(bad: object) -> None:
    from lmux_plug import ConfigurationError

    with pytest.raises(ConfigurationError, match="positive int or None"):
        Transport(max_response_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_decompressed_bytes"):
        Transport(max_decompressed_bytes=bad)  # type: ignore[arg-type]
    assert (
        Transport(max_response_bytes=None, max_decompressed_bytes=None).max_response_bytes is None
    )
