"""Differential test of HTTP response framing: our parser against aiohttp's own parsers.

Each answer in the corpus (malformed, ambiguous, and well-formed controls) is fed to the
lean client's :class:`~lmux_plug._http1.ResponseParser` and to
``aiohttp.http_parser.HttpResponseParser`` as aiohttp's client configures it (its
pure-Python variant and its C variant, where built). Both must accept or both refuse;
when both accept, status, headers and body must be equal.

Where aiohttp's two variants disagree with each other, we side with the one that refuses
(:data:`VARIANTS_DISAGREE`). Where we are deliberately stricter than both, the reason is
written next to the case (:data:`STRICTER`): a compressed body whose stream stops before
its end marker must never look complete (issue 12.15).
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any
from unittest import mock

import pytest
from aiohttp import http_parser
from aiohttp.client_exceptions import ClientPayloadError

from lmux_plug._http1 import ResponseParser

OK = b"HTTP/1.1 200 OK\r\n"
GZ = gzip.compress(b'{"ok": true}')
DEFLATED = zlib.compress(b'{"ok": true}')

CORPUS: dict[str, bytes] = {
    # -- well-formed controls
    "content-length": OK + b"Content-Length: 2\r\n\r\nok",
    "chunked": OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n",
    "chunked with trailer": OK
    + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: 1\r\n\r\n",
    "chunk extension": OK + b"Transfer-Encoding: chunked\r\n\r\n2;name=value\r\nok\r\n0\r\n\r\n",
    "read until close": OK + b"Content-Type: text/plain\r\n\r\nuntil the end",
    "http/1.0 until close": b"HTTP/1.0 200 OK\r\n\r\nold",
    "interim 100 then 200": b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"Content-Length: 2\r\n\r\nok",
    "204 ignores content-length": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    "304 no body": b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
    "no reason phrase": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "repeated header": OK + b"X-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n",
    "empty header value": OK + b"X-Empty:\r\nContent-Length: 0\r\n\r\n",
    "gzip": OK + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(GZ) + GZ,
    "deflate": OK
    + b"Content-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(DEFLATED)
    + DEFLATED,
    "trailing whitespace in value": OK + b"X-A: v  \t\r\nContent-Length: 0\r\n\r\n",
    "bare LF line endings": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "obs-fold continuation": OK + b"X-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n",
    "status 599": b"HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
    "chunk size in upper-case hex": OK
    + b"Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
    # -- smuggling and ambiguous framing
    "content-length and transfer-encoding": OK
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two different content-lengths": OK + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "content-length list": OK + b"Content-Length: 2, 2\r\n\r\nok",
    "content-length with plus": OK + b"Content-Length: +2\r\n\r\nok",
    "content-length negative": OK + b"Content-Length: -1\r\n\r\n",
    "content-length not a number": OK + b"Content-Length: 12abc\r\n\r\n",
    "content-length hex": OK + b"Content-Length: 0x2\r\n\r\nok",
    "space before colon": OK + b"Content-Length : 2\r\n\r\nok",
    "chunk size with underscore": OK
    + b"Transfer-Encoding: chunked\r\n\r\n1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
    "chunk size with 0x": OK + b"Transfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
    "chunk size negative": OK + b"Transfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n",
    "chunk size not hex": OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "chunk data longer than size": OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
    "chunk size overflow": OK + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n",
    "transfer-encoding chunked twice": OK
    + b"Transfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "transfer-encoding gzip only": OK + b"Transfer-Encoding: gzip\r\n\r\nraw",
    "transfer-encoding with space": OK + b"Transfer-Encoding : chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    # -- status lines
    "status 2000": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "status 20": b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
    "status letters": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "not HTTP": b"SPDY/3 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/2.0 status line": b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 lower-case": b"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "no space after version": b"HTTP/1.1200 OK\r\nContent-Length: 0\r\n\r\n",
    "status line too long": b"HTTP/1.1 200 " + b"O" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
    # -- header bytes
    "NUL in header value": OK + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "CR in header value": OK + b"X-A: a\rb\r\nContent-Length: 0\r\n\r\n",
    "header without colon": OK + b"no colon here\r\nContent-Length: 0\r\n\r\n",
    "header name with slash": OK + b"X/A: 1\r\nContent-Length: 0\r\n\r\n",
    "empty header name": OK + b": v\r\nContent-Length: 0\r\n\r\n",
    "fold before any header": OK + b" folded\r\nContent-Length: 0\r\n\r\n",
    "header value too long": OK + b"X-A: " + b"a" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
    "header name too long": OK + b"X" * 9000 + b": 1\r\nContent-Length: 0\r\n\r\n",
    "too many headers": OK + b"X-Many: 1\r\n" * 200 + b"Content-Length: 0\r\n\r\n",
    "too many trailers": OK
    + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
    + b"X-T: 1\r\n" * 200
    + b"\r\n",
    # -- cut short
    "cut in the head": OK + b"Content-Le",
    "cut in a content-length body": OK + b"Content-Length: 10\r\n\r\nabc",
    "cut in a chunk": OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab",
    "cut before the last chunk": OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
    "cut in the trailers": OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nx-t: 1\r\n",
    "nothing at all": b"",
    # -- content codings
    "corrupt gzip": OK + b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    "unknown coding": OK + b"Content-Encoding: br\r\nContent-Length: 1\r\n\r\nx",
    "gzip cut before its end marker": OK
    + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n"
    + GZ[:10],
}

# aiohttp's Python and C parsers answer these differently; we refuse, as one of them does.
VARIANTS_DISAGREE = {
    "space before colon",  # C (lenient llhttp) takes "Content-Length " as another header
    "transfer-encoding with space",  # the same, for Transfer-Encoding
    "two different content-lengths",  # Python keeps the first; C refuses
}
# We refuse, aiohttp accepts: deliberately stricter, for the reason given.
STRICTER = {
    # aiohttp hands out an empty (or partial) body as if complete: a cut body must never
    # look complete (issue 12.15).
    "gzip cut before its end marker": "compressed stream without its end marker",
}


def _aiohttp_parse(parser_class: Any, wire: bytes) -> tuple[Any, ...]:
    """What aiohttp's client makes of ``wire`` followed by the end of the connection."""
    loop = asyncio.new_event_loop()
    try:
        protocol = mock.Mock()
        protocol._reading_paused = False  # the flow-control flag aiohttp's payload reads
        parser = parser_class(
            protocol,
            loop,
            2**16,
            payload_exception=ClientPayloadError,
            response_with_body=True,
            read_until_eof=True,  # ClientSession's default
            auto_decompress=True,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=128,
        )
        try:
            messages, _, _ = parser.feed_data(wire)
            parser.feed_eof()
        except Exception as exc:
            return ("refused", type(exc).__name__)
        final = [(m, p) for m, p in messages if not (100 <= m.code < 200 and m.code != 101)]
        if not final:
            return ("refused", "no complete head")
        message, payload = final[0]
        try:
            body = loop.run_until_complete(asyncio.wait_for(payload.read(), 1))
        except Exception as exc:
            return ("refused", type(exc).__name__)
        headers: dict[str, str] = {}
        for name, value in message.headers.items():
            key = name.lower()
            headers[key] = value if key not in headers else f"{headers[key]}, {value}"
        return ("accepted", message.code, headers, body)
    finally:
        loop.close()


def _our_parse(wire: bytes) -> tuple[Any, ...]:
    parser = ResponseParser()
    try:
        parser.feed(wire)
        parser.feed_eof()
    except Exception as exc:
        return ("refused", type(exc).__name__)
    return ("accepted", parser.status, dict(parser.headers), parser.take())


def _variants() -> list[Any]:
    found = [http_parser.HttpResponseParserPy]
    c_parser = getattr(http_parser, "HttpResponseParserC", None)
    if c_parser is not None:
        found.append(c_parser)
    return found


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40
    assert set(CORPUS) >= VARIANTS_DISAGREE
    assert set(STRICTER) <= set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_accepted_or_refused_as_aiohttp_does(name: str) -> None:
    wire = CORPUS[name]
    theirs = [_aiohttp_parse(variant, wire) for variant in _variants()]
    ours = _our_parse(wire)
    if name in STRICTER:
        assert ours[0] == "refused", ours
        assert all(t[0] == "accepted" for t in theirs), theirs  # else: no longer stricter
        return
    verdicts = {t[0] for t in theirs}
    if name in VARIANTS_DISAGREE:
        assert len(theirs) == 1 or verdicts == {"accepted", "refused"}, theirs
        assert ours[0] == "refused", ours
        return
    assert len(verdicts) == 1, f"aiohttp's variants disagree: {theirs}"
    expected = theirs[0]
    assert ours[0] == expected[0], f"ours {ours}, aiohttp {expected}"
    if expected[0] == "accepted":
        assert ours == expected


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_verdict_does_not_depend_on_how_the_bytes_are_split(name: str) -> None:
    wire = CORPUS[name]
    whole = _our_parse(wire)
    parser = ResponseParser()
    body = []
    try:
        for index in range(len(wire)):
            parser.feed(wire[index : index + 1])
            body.append(parser.take())
        parser.feed_eof()
    except Exception as exc:
        assert whole == ("refused", type(exc).__name__)
        return
    body.append(parser.take())
    assert whole == ("accepted", parser.status, dict(parser.headers), b"".join(body))
