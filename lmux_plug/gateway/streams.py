"""Streamed gateway answers: scrubbed across chunks, accounted once, upstream released.

Two jobs every SSE route shares:

* **Scrubbing across chunks.** A secret an upstream echoes may arrive split over two
  chunks (two SSE events, two TCP reads); scrubbing each event alone lets both halves
  through. The ``*Scrub`` classes run each text channel of a stream (a chat's content, each
  tool call's arguments, a Responses item's deltas) through a
  :class:`~lmux_plug._secrets.StreamScrubber`, which holds back a possible start of a
  secret until the next piece, and flush what is held before the channel's last chunk.
* **Ending.** :class:`MeteredStream` runs the route's ``finish`` (metrics, budget
  settlement) exactly once and then closes the body and the upstream, in a task of its own
  that a client's disconnect cannot cancel, whether the body generator ran to its end, was
  cancelled mid-``await`` or never started.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Hashable
from collections.abc import Mapping
from typing import Any

import attrs
from starlette.responses import StreamingResponse
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from lmux_plug._aclose import aclose_if_any
from lmux_plug._secrets import StreamScrubber
from lmux_plug._types import ChatChunk
from lmux_plug._types import ToolCallDelta

__all__ = [
    "ChatScrub",
    "CompletionScrub",
    "DeltaScrub",
    "MeteredStream",
    "ResponseScrub",
    "TranscriptScrub",
]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# Endings in progress: a task the event loop only weakly references could be collected.
_ENDING: set[asyncio.Future[None]] = set()


async def _detached(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` in its own task and wait for it; a cancelled caller does not stop it."""
    task = asyncio.ensure_future(work)
    _ENDING.add(task)
    task.add_done_callback(_ENDING.discard)
    await asyncio.shield(task)


async def _aclose(stream: object) -> None:
    with contextlib.suppress(Exception):
        await aclose_if_any(stream)


class MeteredStream(StreamingResponse):
    """An SSE response whose ending (``finish``, then closing) always runs, once.

    Starlette stops a stream whose client left by cancelling it in an anyio cancel scope,
    which cancels again every ``await`` the stream's cleanup makes: an upstream generator's
    ``finally: await body.aclose()`` never completes and the connection is not released.
    Here the sending task is cancelled once, with plain asyncio, when the client leaves; the
    cleanup that cancellation runs can await what it needs.

    ``finish`` does the accounting and is awaited first: nothing a disconnect cancels comes
    before the charge. Then the body generator and ``upstream`` are closed.
    """

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        finish: Callable[[], Awaitable[None]],
        upstream: object,
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers=_SSE_HEADERS)
        self._finish: Callable[[], Awaitable[None]] | None = finish
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        """Send the stream until it ends or the client leaves; then end it, whatever happened."""
        sending = asyncio.ensure_future(self.stream_response(send))
        watching = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((sending, watching), return_when=asyncio.FIRST_COMPLETED)
            if not sending.done():  # the client left: stop sending, once
                sending.cancel()
            await asyncio.wait((sending,))  # its cleanup runs, not cancelled again
        except BaseException:  # this request itself is cancelled (server shutdown)
            sending.cancel()
            raise
        finally:
            watching.cancel()
            await _detached(self.end())
        error = None if sending.cancelled() else sending.exception()
        if error is not None and not isinstance(error, OSError):  # OSError: the client left
            raise error

    async def end(self) -> None:
        """Account (once), then close the body and the upstream."""
        finish, self._finish = self._finish, None
        try:
            if finish is not None:
                await finish()
        finally:
            await _aclose(self.body_iterator)
            await _aclose(self._upstream)


async def _disconnected(receive: Receive) -> None:
    """Return when the client has gone."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class DeltaScrub:
    """One :class:`StreamScrubber` per text channel of a stream (keyed by anything hashable)."""

    def __init__(self, new: Callable[[], StreamScrubber]) -> None:
        self._new = new
        self._channels: dict[Hashable, StreamScrubber] = {}

    def feed(self, channel: Hashable, text: str) -> str:
        """What of ``text`` may be sent now on ``channel``."""
        scrubber = self._channels.get(channel)
        if scrubber is None:
            if not text:
                return text
            scrubber = self._channels[channel] = self._new()
        return scrubber.feed(text)

    def flush(self, channel: Hashable) -> str:
        """What ``channel`` holds back (its last piece is being sent)."""
        scrubber = self._channels.pop(channel, None)
        return scrubber.flush() if scrubber is not None else ""

    def holding(self) -> list[Hashable]:
        """The channels that hold text back."""
        return [name for name, scrubber in self._channels.items() if scrubber.holding]


class ChatScrub:
    """Scrubs a stream of :class:`~lmux_plug.ChatChunk`: content and each tool's arguments.

    Held text is flushed into the terminal chunk (finish reason or usage), or into one more
    chunk from :meth:`close` when the stream ends without one.
    """

    def __init__(self, new: Callable[[], StreamScrubber]) -> None:
        self._deltas = DeltaScrub(new)

    def chunk(self, chunk: ChatChunk) -> ChatChunk:
        """``chunk`` with its text scrubbed (and held text flushed if it is the last)."""
        last = chunk.finish_reason is not None or chunk.usage is not None
        deltas = self._deltas
        text = deltas.feed("content", chunk.delta)
        tools = [
            attrs.evolve(d, arguments=deltas.feed(("tool", d.index), d.arguments or ""))
            for d in chunk.tool_call_deltas
        ]
        if last:
            text += deltas.flush("content")
            tools = [
                attrs.evolve(d, arguments=d.arguments + deltas.flush(("tool", d.index)))
                for d in tools
            ]
            tools += self._held_tools()
        if text == chunk.delta and tools == list(chunk.tool_call_deltas):
            return chunk
        return attrs.evolve(chunk, delta=text, tool_call_deltas=tuple(tools))

    def _held_tools(self) -> list[ToolCallDelta]:
        held = [c for c in self._deltas.holding() if isinstance(c, tuple)]
        return [
            ToolCallDelta(index=channel[1], arguments=self._deltas.flush(channel))
            for channel in held
        ]

    def close(self) -> ChatChunk | None:
        """A chunk with whatever is still held back, if anything."""
        text = self._deltas.flush("content")
        tools = self._held_tools()
        if not text and not tools:
            return None
        return ChatChunk(delta=text, tool_call_deltas=tuple(tools))


def _delta_field(chunk: Any) -> tuple[str, str] | None:
    """``(field, text)`` of a Responses chunk's streamed text, if it carries one."""
    data = chunk.data
    if data:
        delta = data.get("delta")
        return ("data", delta) if isinstance(delta, str) else None
    if chunk.tool_call_delta is not None:
        return "tool", chunk.tool_call_delta.arguments or ""
    if chunk.reasoning_delta:
        return "reasoning_delta", chunk.reasoning_delta
    if chunk.delta or chunk.type.endswith(".delta"):
        return "delta", chunk.delta
    return None


def _channel(chunk: Any, field: str) -> Hashable:
    data: Mapping[str, Any] = chunk.data or {}
    index = chunk.tool_call_delta.index if chunk.tool_call_delta is not None else None
    return (
        chunk.type,
        field,
        index,
        str(data.get("item_id")),
        str(data.get("output_index")),
        str(data.get("content_index")),
    )


def _with_delta(chunk: Any, field: str, text: str) -> Any:
    if field == "data":
        return attrs.evolve(chunk, data={**chunk.data, "delta": text})
    if field == "tool":
        return attrs.evolve(
            chunk, tool_call_delta=attrs.evolve(chunk.tool_call_delta, arguments=text)
        )
    return attrs.evolve(chunk, **{field: text})


class ResponseScrub:
    """Scrubs a stream of Responses chunks (the provider's events passed through, or built).

    Every delta event's text goes through its channel (event type, item, output and content
    index); before any other event, each channel's held text is sent as one more delta
    event like its last one. Whole texts in ``.done`` events and the final response are
    scrubbed as the events are written (they arrive in one piece).
    """

    def __init__(self, new: Callable[[], StreamScrubber]) -> None:
        self._deltas = DeltaScrub(new)
        self._last: dict[Hashable, tuple[Any, str]] = {}

    def chunks(self, chunk: Any) -> list[Any]:
        """The chunks to send for ``chunk``: held text first when a delta run ends."""
        found = _delta_field(chunk)
        if found is None:
            return [*self.close(), chunk]
        field, text = found
        channel = _channel(chunk, field)
        self._last[channel] = (chunk, field)
        return [_with_delta(chunk, field, self._deltas.feed(channel, text))]

    def close(self) -> list[Any]:
        """One more delta event per channel that holds text back."""
        out = []
        for channel in self._deltas.holding():
            chunk, field = self._last[channel]
            out.append(_with_delta(chunk, field, self._deltas.flush(channel)))
        self._last.clear()
        return out


class CompletionScrub:
    """Scrubs a stream of text-completion chunks, one channel per choice index.

    Held text goes into the choice's chunk with a finish reason, or into one more chunk
    from :meth:`close`.
    """

    def __init__(self, new: Callable[[], StreamScrubber]) -> None:
        self._deltas = DeltaScrub(new)
        self._last: dict[Hashable, Any] = {}

    def chunks(self, chunk: Any) -> list[Any]:
        """``chunk`` with its text scrubbed."""
        text = self._deltas.feed(chunk.index, chunk.delta)
        if chunk.finish_reason is not None:
            text += self._deltas.flush(chunk.index)
        else:
            self._last[chunk.index] = chunk
        return [chunk if text == chunk.delta else attrs.evolve(chunk, delta=text)]

    def close(self) -> list[Any]:
        """One more chunk per choice that holds text back."""
        return [
            attrs.evolve(
                self._last[index],
                delta=self._deltas.flush(index),
                finish_reason=None,
                usage=None,
                cost=None,
            )
            for index in self._deltas.holding()
        ]


class TranscriptScrub:
    """Scrubs a streamed transcript: ``.delta`` texts, held text sent before the ``.done``."""

    def __init__(self, new: Callable[[], StreamScrubber]) -> None:
        self._deltas = DeltaScrub(new)
        self._last: Any = None

    def chunks(self, chunk: Any) -> list[Any]:
        """The chunks to send for ``chunk``."""
        if chunk.type.endswith(".delta") and chunk.response is None:
            self._last = chunk
            return [attrs.evolve(chunk, delta=self._deltas.feed("text", chunk.delta))]
        return [*self.close(), chunk]

    def close(self) -> list[Any]:
        """One more delta chunk if text is held back."""
        if not self._deltas.holding():
            return []
        return [attrs.evolve(self._last, delta=self._deltas.flush("text"))]
