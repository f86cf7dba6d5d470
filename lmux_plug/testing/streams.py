"""Helpers for testing streams: byte splits for sans-IO decoders, collecting async streams.

A streaming decoder must give the same chunks however the bytes arrive; ``split_at``
turns arbitrary cut points (say, integers drawn by Hypothesis) into the pieces to feed.
``same_under_any_split`` checks a decoder on whole and cut bytes at once (``in_pieces``
makes its ``decode`` from a stream decoder); ``terminal_of`` checks that a finished stream
ends in exactly one terminal chunk and returns it; ``tool_calls_of`` joins a stream's
tool-call deltas into the calls they make. ``collect``
drains an async stream into a list the caller holds, so the items that arrived before an
error are still there to assert on; ``cut_short`` collects a chat stream that must fail
as truncated; ``first_then_close`` reads one item and closes the stream early (a test then
checks the server saw the client leave).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import TypeVar

from lmux_plug._aclose import aclose_if_any

if TYPE_CHECKING:
    from lmux_plug import ChatChunk
    from lmux_plug import ToolCall
    from lmux_plug.wire import StreamDecoder

__all__ = [
    "collect",
    "cut_short",
    "first_then_close",
    "in_pieces",
    "same_under_any_split",
    "split_at",
    "terminal_of",
    "tool_calls_of",
]

T = TypeVar("T")


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at every point of ``cuts`` (taken modulo ``len(data) + 1``).

    Repeated points count once; the pieces join back to ``data``.
    """
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


async def collect(stream: AsyncIterable[T], into: list[T]) -> None:
    """Append every item of ``stream`` to ``into``; what arrived stays there if it raises."""
    async for item in stream:
        into.append(item)  # noqa: PERF401 - a comprehension would lose the items on error


async def cut_short(stream: AsyncIterable[ChatChunk]) -> list[ChatChunk]:
    """The chunks a chat stream delivered before it failed for being truncated.

    A body that ends before the wire's end-of-answer marker must raise ``ProviderError``
    naming the truncation, and nothing delivered before may look finished (carry a finish
    reason). Raises ``AssertionError`` otherwise.
    """
    from lmux_plug.errors import ProviderError  # noqa: PLC0415 - keeps this module light

    chunks: list[ChatChunk] = []
    try:
        await collect(stream, chunks)
    except ProviderError as exc:
        if "truncated" not in str(exc):
            msg = f"the stream failed, but not as truncated: {exc!r}"
            raise AssertionError(msg) from exc
    else:
        msg = f"the stream ended without the truncation error after {chunks}"
        raise AssertionError(msg)
    finished = [c for c in chunks if c.finish_reason is not None]
    if finished:
        msg = f"a truncated stream delivered a finished chunk: {finished}"
        raise AssertionError(msg)
    return chunks


def in_pieces(make: Callable[[], StreamDecoder]) -> Callable[[list[bytes]], list[ChatChunk]]:
    """The ``decode`` of :func:`same_under_any_split` for a codec's stream decoder.

    Each call takes a fresh decoder from ``make``, feeds it the pieces in order and closes
    it; the chunks of all of that, in order.
    """

    def decode(pieces: list[bytes]) -> list[ChatChunk]:
        decoder = make()
        chunks = [chunk for piece in pieces for chunk in decoder.feed(piece)]
        return chunks + decoder.close()

    return decode


def same_under_any_split(
    decode: Callable[[list[bytes]], list[ChatChunk]], body: bytes, cuts: Iterable[int]
) -> list[ChatChunk]:
    """The chunks ``decode`` gives for ``body`` whole, checked against ``body`` cut at ``cuts``.

    Raises ``AssertionError`` unless both give the same chunks and exactly one of them, the
    last, is terminal (carries a finish reason).
    """
    whole = decode([body])
    split = decode(split_at(body, cuts))
    if split != whole:
        msg = f"cut at {sorted(set(cuts))} the chunks differ:\n{split}\nwhole:\n{whole}"
        raise AssertionError(msg)
    terminal_of(whole)
    return whole


def terminal_of(chunks: Sequence[ChatChunk]) -> ChatChunk:
    """The terminal chunk of a finished chat stream: the last, the only one with a finish reason.

    Raises ``AssertionError`` unless exactly one chunk of ``chunks`` carries a finish
    reason and it is the last (every wire's stream ends that way).
    """
    terminal = [c for c in chunks if c.finish_reason is not None]
    if len(terminal) != 1 or chunks[-1] is not terminal[0]:
        msg = f"not one terminal chunk at the end: {chunks}"
        raise AssertionError(msg)
    return terminal[0]


def tool_calls_of(chunks: Iterable[ChatChunk]) -> list[ToolCall]:
    """The tool calls a stream's deltas make, joined by their index, in index order.

    A delta's id and name, where it has them, are the call's; its arguments are appended
    to the call's (they arrive as fragments of one JSON text).
    """
    from lmux_plug import ToolCall  # noqa: PLC0415 - keeps this module light

    parts: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_call_deltas:
            entry = parts.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = delta.id or entry["id"]
            entry["name"] = delta.name or entry["name"]
            entry["arguments"] += delta.arguments
    return [
        ToolCall(id=p["id"], name=p["name"], arguments=p["arguments"])
        for _, p in sorted(parts.items())
    ]


async def first_then_close(stream: AsyncIterator[T]) -> T:
    """The first item of ``stream``, which is then closed (``aclose``) before its end."""
    try:
        return await anext(stream)
    finally:
        await aclose_if_any(stream)
