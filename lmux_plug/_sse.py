"""Sans-IO stream decoders: feed bytes in any split, get complete events out.

``SSEDecoder`` implements the server-sent-events framing (``data:``/``event:``/``id:``
fields, comment lines, CRLF or LF line ends, multi-line data). ``NDJSONDecoder`` splits
newline-delimited JSON. Neither does I/O, so the same code serves sync, async and tests
that split a stream at arbitrary byte boundaries.
"""

from __future__ import annotations

import attrs

__all__ = ["NDJSONDecoder", "SSEDecoder", "ServerSentEvent"]


@attrs.frozen
class ServerSentEvent:
    """One complete event. ``event`` is ``"message"`` when the server named none."""

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
        events: list[ServerSentEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, events)
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: return an event left without its closing blank line, if any."""
        events: list[ServerSentEvent] = []
        if self._buffer:
            line = self._buffer.rstrip(b"\r")
            self._buffer = b""
            self._line(line, events)
        self._line(b"", events)
        return events

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished event are buffered."""
        return bool(self._buffer.strip() or self._data)

    def _line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        if not raw:
            if self._data:
                events.append(
                    ServerSentEvent("\n".join(self._data), self._event or "message", self._id)
                )
            self._data = []
            self._event = None
            return
        if raw[:1] == b":":  # comment line, e.g. ": OPENROUTER PROCESSING" keep-alives
            return
        line = raw.decode("utf-8", "replace")
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
