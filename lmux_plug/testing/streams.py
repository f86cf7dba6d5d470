"""Helpers for testing streams: byte splits for sans-IO decoders, collecting async streams.

A streaming decoder must give the same chunks however the bytes arrive; ``split_at``
turns arbitrary cut points (say, integers drawn by Hypothesis) into the pieces to feed.
``collect`` drains an async stream into a list the caller holds, so the items that arrived
before an error are still there to assert on.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TypeVar

__all__ = ["collect", "split_at"]

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
