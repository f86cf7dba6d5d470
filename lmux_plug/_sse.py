"""Sans-IO stream decoders: feed bytes in any split, get complete events out.

``SSEDecoder`` implements the server-sent-events framing (``data:``/``event:``/``id:``
fields, comment lines, CRLF or LF line ends, multi-line data). ``NDJSONDecoder`` splits
newline-delimited JSON. Neither does I/O, so the same code serves sync, async and tests
that split a stream at arbitrary byte boundaries.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["NDJSONDecoder", "SSEDecoder", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    """One complete event. ``event`` is ``"message"`` when the server named none.

    An immutable named tuple rather than an attrs class: a stream makes one per chunk,
    and a tuple is built in a fifth of the time a frozen attrs instance takes.
    """

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental SSE parser: :meth:`feed` returns the events completed by new bytes."""

    __slots__ = ("_buffer", "_data", "_event", "_id")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Add bytes; return the events they complete, in order."""
        buffer = self._buffer + chunk if self._buffer else chunk
        cut = buffer.rfind(b"\n")
        if cut < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[cut + 1 :]
        # All complete lines are decoded at once: a newline byte is never part of a
        # multi-byte UTF-8 sequence (nor of an invalid one, which it ends), so this gives
        # what decoding each line apart gives, in one call instead of one per line.
        text = buffer[:cut].decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:  # CRLF line ends
            lines = [line[:-1] if line[-1:] == "\r" else line for line in lines]
        return self._lines(lines)

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: return an event left without its closing blank line, if any."""
        lines = [""]
        if self._buffer:
            lines.insert(0, self._buffer.rstrip(b"\r").decode("utf-8", "replace"))
            self._buffer = b""
        return self._lines(lines)

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished event are buffered."""
        return bool(self._buffer.strip() or self._data)

    def _lines(self, lines: list[str]) -> list[ServerSentEvent]:
        # One loop over the lines, the two shapes of nearly every line first (an
        # LLM stream is "data: {...}" and a blank line per event): the per-line cost is
        # the whole cost of this framing.
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:  # a blank line ends the event
                if data:
                    events.append(
                        ServerSentEvent("\n".join(data), self._event or "message", self._id)
                    )
                    data = self._data = []
                self._event = None
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line[0] != ":":  # ":" starts a comment, e.g. ": OPENROUTER PROCESSING"
                self._field(line)
        return events

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value


class NDJSONDecoder:
    """Split newline-delimited JSON into complete lines (still text; decode with ``json``)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the non-blank lines they complete."""
        buffer = self._buffer + chunk
        *lines, self._buffer = buffer.split(b"\n")
        return [text for line in lines if (text := line.decode("utf-8", "replace").strip())]

    def flush(self) -> list[str]:
        """End of stream: return a last line that had no newline."""
        rest, self._buffer = self._buffer, b""
        text = rest.decode("utf-8", "replace").strip()
        return [text] if text else []
