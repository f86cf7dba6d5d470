"""The lean HTTP/1.1 client: the sans-IO parser under arbitrary splits, and real servers.

The servers here are independent implementations (aiohttp's web server, raw asyncio
sockets), so the client is checked against HTTP as others speak it, not against itself.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import ssl
import zlib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from httptools import HttpResponseParser
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import TimeoutError
from lmux_plug._http1 import ConnectionClosedError
from lmux_plug._http1 import ProtocolError
from lmux_plug._http1 import ResponseParser
from lmux_plug._http1 import Target
from lmux_plug._http1 import encode_request
from lmux_plug._http_body import BodyError
from lmux_plug.http import Timeout
from lmux_plug.http import Transport
from lmux_plug.http import _aiohttp_is_patched

# -- the parser ------------------------------------------------------------------------------


def _chunked(body: bytes, sizes: list[int], *, trailer: bool) -> bytes:
    out = []
    position = 0
    for size in [*sizes, len(body)]:
        piece = body[position : position + max(size, 1)]
        if not piece:
            break
        out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        position += len(piece)
    out.append(b"0\r\nx-trailer: 1\r\n\r\n" if trailer else b"0\r\n\r\n")
    return b"".join(out)


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """(wire bytes, expected body, ends only at EOF) for one response in some framing."""
    body = draw(st.binary(max_size=3000))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    encoding = draw(st.sampled_from(["identity", "gzip", "deflate"]))
    payload = body
    if encoding == "gzip":
        payload = gzip.compress(body)
    elif encoding == "deflate":
        payload = zlib.compress(body)
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", b"X-Multi: a"]
    if draw(st.booleans()):
        head.append(b"X-Multi: b")
    if encoding != "identity":
        head.append(b"Content-Encoding: " + encoding.encode())
    if framing == "length":
        head.append(b"Content-Length: %d" % len(payload))
        framed = payload
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 700), max_size=6))
        framed = _chunked(payload, sizes, trailer=draw(st.booleans()))
    else:
        framed = payload
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else b""
    return interim + b"\r\n".join(head) + b"\r\n\r\n" + framed, body, framing == "close"


@settings(max_examples=300, deadline=None)
@given(responses(), st.lists(st.integers(1, 400), max_size=30))
def test_any_byte_split_gives_the_same_response(
    case: tuple[bytes, bytes, bool], cuts: list[int]
) -> None:
    wire, body, until_eof = case
    parser = ResponseParser()
    received = []
    position = 0
    for cut in [*cuts, len(wire)]:
        piece = wire[position : position + cut]
        position += len(piece)
        parser.feed(piece)
        received.append(parser.take())
        if position >= len(wire):
            break
    if until_eof:
        assert not parser.complete
        parser.feed_eof()
    assert parser.complete
    assert parser.status == 200
    assert parser.headers["content-type"] == "application/json"
    assert parser.headers["x-multi"] in ("a", "a, b")
    assert b"".join(received) + parser.take() == body
    assert parser.keep_alive is not until_eof


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"SPDY/3 200 OK\r\n\r\n", "Expected HTTP/"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "Invalid status code"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "Invalid header token"),
        (b"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n", "Invalid header token"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 12abc\r\n\r\n",
            "Invalid character in Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\n", "Invalid character in Content-Length"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            "Invalid character in chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n",
            "Invalid character in chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n",
            "Expected LF after chunk data",
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 1\r\n\r\nx", "br"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 4\r\n\r\nnope",
            "decompress",
        ),
        (b"HTTP/1.1 200 OK\r\nx: " + b"a" * 70_000 + b"\r\n\r\n", "longer than 8190"),
        (b"HTTP/1.1 200 OK\r\nx: " + b"a" * 70_000, "larger than"),
    ],
)
def test_malformed_responses_are_protocol_errors(wire: bytes, error: str) -> None:
    with pytest.raises((ProtocolError, BodyError), match=error):
        ResponseParser().feed(wire)


def test_a_cut_response_is_an_error_at_eof() -> None:
    for wire in (
        b"HTTP/1.1 200 OK\r\ncontent-le",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
    ):
        parser = ResponseParser()
        parser.feed(wire)
        with pytest.raises(ConnectionClosedError):
            parser.feed_eof()


def test_bodiless_responses_and_folding() -> None:
    for wire, head in (
        (b"HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n", True),
    ):
        parser = ResponseParser(head_request=head)
        parser.feed(wire)
        assert parser.complete
        assert parser.take() == b""
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nx-long: one\r\n  two\r\ncontent-length: 0\r\n\r\n")
    assert parser.headers["x-long"] == "one  two"  # as aiohttp: the fold kept verbatim


@pytest.mark.parametrize(
    ("wire", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nextra", False),
    ],
)
def test_keep_alive_follows_version_and_connection_header(wire: bytes, keep_alive: bool) -> None:
    parser = ResponseParser()
    parser.feed(wire)
    assert parser.complete
    assert parser.keep_alive is keep_alive


def test_request_encoding_and_targets() -> None:
    target = Target("https://Example.com/v1/chat completions?a=1")
    assert target.tls
    assert target.port == 443
    assert target.host_header == "example.com"
    assert target.path == "/v1/chat%20completions?a=1"
    assert target.with_query({"key": "k&v"}).path == "/v1/chat%20completions?a=1&key=k%26v"
    assert Target("http://[::1]:8080").host_header == "[::1]:8080"
    assert Target("http://bücher.example/x").host == "xn--bcher-kva.example"
    wire = encode_request("POST", Target("http://h:81/p"), {"a": "b"}, b"{}")
    assert wire.startswith(b"POST /p HTTP/1.1\r\nhost: h:81\r\na: b\r\n")
    assert b"content-length: 2\r\n" in wire
    assert wire.endswith(b"\r\n\r\n{}")
    assert b"accept-encoding: gzip, deflate\r\n" in wire  # the default, when not given
    for spelt in ({"Accept-Encoding": "identity"}, {"accept-encoding": "identity"}):
        wire = encode_request("GET", Target("http://h/p"), spelt, None)
        assert wire.lower().count(b"accept-encoding") == 1, wire
    with pytest.raises(ValueError, match="CR or LF"):
        encode_request("GET", target, {"x": "a\r\nevil: 1"}, None)
    with pytest.raises(ValueError, match="not an http"):
        Target("ftp://example.com/")
    with pytest.raises(ValueError, match="user info"):
        Target("https://user:pw@example.com/")  # basic auth: the aiohttp path sends it


# -- real servers ----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(
    routes: dict[str, Handler], ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://127.0.0.1:{port}"


async def _chat(request: web.Request) -> web.Response:
    data = await request.json()
    reply = {"echo": data, "query": dict(request.query), "agent": request.headers.get("x-who")}
    return web.json_response(reply)


async def _gzip(request: web.Request) -> web.Response:
    response = web.json_response({"big": "z" * 50_000})
    response.enable_compression(web.ContentCoding.gzip)
    return response


async def _chunks(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(int(request.query.get("n", "50"))):
        await response.write(b"data: %d %s\n\n" % (i, b"p" * 1000))
    await response.write_eof()
    return response


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "0.3")))
    return web.json_response({"slow": True})


@pytest.fixture
async def aiohttp_server() -> AsyncIterator[str]:
    runner, url = await _serve({"/chat": _chat, "/gz": _gzip, "/chunks": _chunks, "/slow": _slow})
    yield url
    await runner.cleanup()


async def test_json_gzip_and_chunked_bodies_from_aiohttp_server(aiohttp_server: str) -> None:
    transport = Transport()
    try:
        response = await transport.request(
            "POST",
            aiohttp_server + "/chat",
            headers={"x-who": "lmux"},
            json_body={"q": "é"},
            params={"api-version": "2024-10-21"},
        )
        assert response.json() == {
            "echo": {"q": "é"},
            "query": {"api-version": "2024-10-21"},
            "agent": "lmux",
        }
        assert response.headers["content-type"].startswith("application/json")
        big = await transport.request("GET", aiohttp_server + "/gz")
        assert big.json() == {"big": "z" * 50_000}
        stream = await transport.stream("GET", aiohttp_server + "/chunks?n=3000")
        pieces = [chunk async for chunk in stream.iter_bytes()]
        stream.close()
        text = b"".join(pieces)
        assert text.count(b"data: ") == 3000
        assert text.endswith(b"data: 2999 " + b"p" * 1000 + b"\n\n")
        pool = transport._lean_pool()
        assert pool.connections_made == 1  # all three on one keep-alive connection
    finally:
        await transport.aclose()


async def test_answers_leave_no_reference_cycle_for_the_garbage_collector(
    aiohttp_server: str,
) -> None:
    # llhttp's parser holds the ResponseParser's callbacks: a cycle per response, unless
    # releasing the exchange breaks it (each one left pushed the collector to run).
    transport = Transport()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            response = await transport.request("POST", aiohttp_server + "/chat", json_body={})
            assert response.status == 200
        stream = await transport.stream("GET", aiohttp_server + "/chunks?n=3")
        assert [chunk async for chunk in stream.iter_bytes()]
        stream.close()
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, (ResponseParser, HttpResponseParser))]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        await transport.aclose()


def test_a_closed_parser_takes_no_more_bytes() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    parser.close()
    parser.feed(b"cde")
    assert not parser.complete
    assert parser.take() == b"ab"
    assert parser.keep_alive is False


async def test_limit_per_host_bounds_open_connections(aiohttp_server: str) -> None:
    transport = Transport(limit_per_host=2)
    try:
        results = await asyncio.gather(
            *(transport.request("GET", aiohttp_server + "/slow?s=0.1") for _ in range(6))
        )
        assert all(r.json() == {"slow": True} for r in results)
        assert transport._lean_pool().connections_made == 2
    finally:
        await transport.aclose()


async def test_read_and_total_timeouts(aiohttp_server: str) -> None:
    transport = Transport(timeout=Timeout(connect=2, read=0.1, total=5))
    try:
        with pytest.raises(TimeoutError):
            await transport.request("GET", aiohttp_server + "/slow?s=1")
        with pytest.raises(TimeoutError):
            await Transport(timeout=Timeout(read=5, total=0.1)).request(
                "GET", aiohttp_server + "/slow?s=1"
            )
        ok = await transport.request("GET", aiohttp_server + "/slow?s=0")
        assert ok.json() == {"slow": True}
    finally:
        await transport.aclose()


async def test_header_injection_is_refused_before_io(aiohttp_server: str) -> None:
    transport = Transport()
    try:
        with pytest.raises(InvalidRequestError, match="CR or LF"):
            await transport.request(
                "POST", aiohttp_server + "/chat", headers={"x-who": "a\r\nx: y"}, json_body={}
            )
        assert transport._lean_pool().connections_made == 0
    finally:
        await transport.aclose()


async def _raw_server(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.AbstractServer, str, list[int]]:
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await answer(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()  # no "connection: close", yet the server hangs up

    server, url, accepted = await _raw_server(once_then_close)
    transport = Transport()
    try:
        for _ in range(3):
            assert (await transport.request("POST", url, json_body={})).body == b"ok"
            await asyncio.sleep(0.05)  # the close reaches the client while it is idle
        assert len(accepted) == 3
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def test_truncated_and_garbled_answers_are_provider_errors() -> None:
    answers = iter(
        [
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nnot-hex\r\n",
            b"",
        ]
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(next(answers))
        await writer.drain()

    server, url, _ = await _raw_server(answer)
    transport = Transport()
    try:
        for expected in ("closed in the middle", "chunk size", "closed before"):
            with pytest.raises(ProviderError, match=expected) as info:
                await transport.request("POST", url, json_body={}, provider="p")
            assert info.value.provider == "p"
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def test_https_with_a_ca_bundle_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, local_tls: tuple[ssl.SSLContext, Path]
) -> None:
    server_context, bundle = local_tls
    runner, url = await _serve({"/chat": _chat}, ssl_context=server_context)
    try:
        untrusting = Transport()  # the system store does not know this CA
        with pytest.raises(ProviderError, match="cannot connect"):
            await untrusting.request("POST", url + "/chat", json_body={"a": 1})
        await untrusting.aclose()
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        transport = Transport()
        try:
            response = await transport.request("POST", url + "/chat", json_body={"a": 1})
            assert response.json()["echo"] == {"a": 1}
            assert transport._lean_pool().connections_made == 1
        finally:
            await transport.aclose()
    finally:
        await runner.cleanup()


async def test_patched_aiohttp_takes_the_aiohttp_path(aiohttp_server: str, tmp_path: Any) -> None:
    """Under a vcrpy cassette every request goes through aiohttp, so it is recorded."""
    import vcr  # type: ignore[import-untyped]

    assert not _aiohttp_is_patched()
    transport = Transport()
    cassette = tmp_path / "c.yaml"
    try:
        with vcr.VCR(record_mode="all").use_cassette(str(cassette)):
            assert _aiohttp_is_patched()
            response = await transport.request("POST", aiohttp_server + "/chat", json_body={"v": 1})
            assert response.json()["echo"] == {"v": 1}
        assert not _aiohttp_is_patched()
        assert "/chat" in cassette.read_text()
        assert transport._pools == {}
    finally:
        await transport.aclose()


async def test_fast_path_off_sends_through_aiohttp(aiohttp_server: str) -> None:
    transport = Transport(fast_path=False)
    try:
        response = await transport.request("POST", aiohttp_server + "/chat", json_body={"v": 2})
        assert json.loads(response.body)["echo"] == {"v": 2}
        assert transport._pools == {}
        assert len(transport._sessions) == 1
    finally:
        await transport.aclose()


async def test_redirects_307_308_followed_post_to_get_refused() -> None:
    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        target = request.query.get("to", "/chat")
        return web.Response(status=status, headers={"location": target})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"location": "/loop"})

    runner, url = await _serve({"/chat": _chat, "/r/{status}": redirect, "/loop": loop})
    transport = Transport()
    try:
        for status in (307, 308):
            response = await transport.request(
                "POST", f"{url}/r/{status}", json_body={"kept": status}, provider="p"
            )
            assert response.json()["echo"] == {"kept": status}
        for status in (301, 302, 303):
            with pytest.raises(ProviderError, match=f"answered {status} redirecting to") as info:
                await transport.request("POST", f"{url}/r/{status}", json_body={}, provider="p")
            assert info.value.provider == "p"
        with pytest.raises(ProviderError, match=r"redirecting to ftp://elsewhere\.invalid/"):
            await transport.request(
                "POST", f"{url}/r/307?to=ftp://elsewhere.invalid/chat", json_body={}
            )
        with pytest.raises(ProviderError, match="more than 5 redirects"):
            await transport.request("POST", f"{url}/loop", json_body={})
    finally:
        await transport.aclose()
        await runner.cleanup()


async def test_user_info_in_the_url_goes_through_aiohttp_as_basic_auth() -> None:
    async def who(request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("authorization")})

    runner, url = await _serve({"/who": who})
    transport = Transport()
    try:
        with_user = url.replace("http://", "http://alice:secret@")
        response = await transport.request("GET", with_user + "/who")
        assert response.json() == {"auth": "Basic YWxpY2U6c2VjcmV0"}
        assert transport._pools == {}
    finally:
        await transport.aclose()
        await runner.cleanup()


async def test_cancellations_give_back_every_connection_slot(aiohttp_server: str) -> None:
    """Cancelled requests (waiting for a slot, for the head or for the body) free their slot."""
    transport = Transport(limit_per_host=4)
    try:
        tasks = [
            asyncio.ensure_future(transport.request("GET", aiohttp_server + "/slow?s=0.05"))
            for _ in range(40)
        ]
        await asyncio.sleep(0.07)
        for task in tasks[::2]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        answered = [r for r in results if not isinstance(r, BaseException)]
        cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
        assert len(answered) + len(cancelled) == 40
        assert len(answered) >= 20
        again = await asyncio.wait_for(
            asyncio.gather(
                *(transport.request("GET", aiohttp_server + "/slow?s=0") for _ in range(8))
            ),
            5,
        )
        assert all(r.json() == {"slow": True} for r in again)
    finally:
        await transport.aclose()
