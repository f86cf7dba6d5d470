"""The sans-IO stream decoders under arbitrary byte splits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmux_plug._sse import NDJSONDecoder
from lmux_plug._sse import ServerSentEvent
from lmux_plug._sse import SSEDecoder

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\ndata: line two\nid: 7\n\n"
    b'data: {"text": "h\xc3\xa9llo \xe2\x9c\x93"}\n\n'
    b'event: error\ndata: {"error": {"message": "boom"}}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent('{"a": 1}', "message_start"),
    ServerSentEvent("line one\nline two", "message", "7"),
    # The last event id carries over to later events, as the SSE specification says.
    ServerSentEvent('{"text": "héllo ✓"}', "message", "7"),
    ServerSentEvent('{"error": {"message": "boom"}}', "error", "7"),
    ServerSentEvent("[DONE]", "message", "7"),
]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@given(st.lists(st.integers(0, 10_000), max_size=40))
def test_sse_events_are_the_same_under_any_split(cuts: list[int]) -> None:
    decoder = SSEDecoder()
    events = [e for piece in split(STREAM, cuts) for e in decoder.feed(piece)]
    events += decoder.flush()
    assert events == EXPECTED


def test_sse_flush_returns_an_event_missing_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.pending
    assert decoder.flush() == [ServerSentEvent("tail")]


@given(st.lists(st.integers(0, 200), max_size=20))
def test_sse_invalid_utf8_and_odd_lines_under_any_split(cuts: list[int]) -> None:
    # Complete lines are decoded together: a cut or invalid sequence before a newline
    # must still give one replacement character, as decoding the line alone does.
    stream = b"data: a\xe2\x82\ndata\ndata:b\xff\r\n:\xe2 comment\nevent:x\nid\nbogus: 1\n\n"
    decoder = SSEDecoder()
    events = [e for piece in split(stream, cuts) for e in decoder.feed(piece)]
    assert events + decoder.flush() == [ServerSentEvent("a\ufffd\n\nb\ufffd", "x", "")]


@given(st.lists(st.integers(0, 1000), max_size=20))
def test_ndjson_lines_are_the_same_under_any_split(cuts: list[int]) -> None:
    data = b'{"a": 1}\n\n{"b": "\xc3\xa9"}\r\n{"done": true}'
    decoder = NDJSONDecoder()
    lines = [line for piece in split(data, cuts) for line in decoder.feed(piece)] + decoder.flush()
    assert lines == ['{"a": 1}', '{"b": "é"}', '{"done": true}']
