"""``lmux_plug.testing.streams.cut_short``: the check the plugins' truncated-stream tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lmux_plug import ChatChunk
from lmux_plug import FinishReason
from lmux_plug import ProviderError
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.streams import tool_calls_of


async def _stream(chunks: list[ChatChunk], error: Exception | None) -> AsyncIterator[ChatChunk]:
    for chunk in chunks:
        yield chunk
    if error is not None:
        raise error


async def test_cut_short_returns_what_arrived_before_the_truncation() -> None:
    arrived = [ChatChunk(delta="par"), ChatChunk(delta="tial")]
    got = await cut_short(_stream(arrived, ProviderError("stream truncated")))
    assert got == arrived


@pytest.mark.parametrize(
    ("chunks", "error", "complaint"),
    [
        ([ChatChunk(delta="all")], None, "without the truncation error"),
        ([], ProviderError("overloaded"), "not as truncated"),
        (
            [ChatChunk(finish_reason=FinishReason.STOP)],
            ProviderError("truncated"),
            "delivered a finished chunk",
        ),
    ],
)
async def test_cut_short_refuses_a_stream_that_was_not_cut_short(
    chunks: list[ChatChunk], error: Exception | None, complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        await cut_short(_stream(chunks, error))


def test_terminal_of_returns_the_one_last_finished_chunk() -> None:
    end = ChatChunk(finish_reason=FinishReason.STOP)
    assert terminal_of([ChatChunk(delta="a"), end]) is end
    for wrong in ([end, ChatChunk(delta="late")], [end, end], [ChatChunk(delta="a")]):
        with pytest.raises(AssertionError, match="not one terminal chunk at the end"):
            terminal_of(wrong)


class _Words:
    """A toy stream decoder: one chunk per complete space-ended word, the rest on close."""

    made = 0

    def __init__(self) -> None:
        _Words.made += 1
        self._held = b""

    def feed(self, data: bytes) -> list[ChatChunk]:
        *words, self._held = (self._held + data).split(b" ")
        return [ChatChunk(delta=w.decode()) for w in words]

    def close(self) -> list[ChatChunk]:
        return [ChatChunk(delta=self._held.decode(), finish_reason=FinishReason.STOP)]


def test_in_pieces_feeds_a_fresh_decoder_every_piece_then_closes_it() -> None:
    before = _Words.made
    chunks = same_under_any_split(in_pieces(_Words), b"one two three", [2, 5, 9])
    assert [c.delta for c in chunks] == ["one", "two", "three"]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert _Words.made == before + 2  # one decoder for the whole body, one for the pieces


def test_tool_calls_of_joins_deltas_by_index_in_index_order() -> None:
    # Two calls interleaved, the second announced first: ids and names come once, the
    # arguments in fragments.
    chunks = [
        ChatChunk(tool_call_deltas=(ToolCallDelta(index=1, id="b", name="time"),)),
        ChatChunk(tool_call_deltas=(ToolCallDelta(index=0, id="a", name="weather"),)),
        ChatChunk(tool_call_deltas=(ToolCallDelta(index=0, arguments='{"city": '),)),
        ChatChunk(tool_call_deltas=(ToolCallDelta(index=1, arguments="{}"),)),
        ChatChunk(tool_call_deltas=(ToolCallDelta(index=0, arguments='"Paris"}'),)),
    ]
    assert tool_calls_of(chunks) == [
        ToolCall(id="a", name="weather", arguments='{"city": "Paris"}'),
        ToolCall(id="b", name="time", arguments="{}"),
    ]
    assert tool_calls_of([ChatChunk(delta="no calls")]) == []
