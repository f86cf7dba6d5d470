"""Surgery on a rendered stream: find the frame that carries the answer, change only its JSON.

Clauses that inject faults into a stream (a malformed event, odd-but-valid JSON, an error
event) must not assume where a wire puts its first data frame: real streams open with
keep-alive comments (``: ping``), ``event:`` lines, role-only chunks or metadata. So the
suite locates the frame that carries the first canonical text piece and edits the JSON
inside it, keeping the wire's own framing (``event:`` and ``data:`` lines, blank lines).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = [
    "break_json",
    "event_after_first_piece",
    "piece_frame",
    "replace_json",
    "split_inside_characters",
]


def _needles(piece: str) -> tuple[bytes, ...]:
    # How a JSON encoder may write the piece: raw UTF-8 or with \uXXXX escapes.
    raw = json.dumps(piece, ensure_ascii=False)[1:-1].encode()
    escaped = json.dumps(piece)[1:-1].encode()
    return (raw, escaped) if raw != escaped else (raw,)


def piece_frame(frames: Sequence[bytes], piece: str) -> int:
    """The index of the first frame that carries ``piece`` inside a JSON object."""
    needles = _needles(piece)
    for index, frame in enumerate(frames):
        if b"{" in frame and any(needle in frame for needle in needles):
            return index
    msg = f"no stream frame carries the text {piece!r} (the wire does not render it)"
    raise LookupError(msg)


def _span(frame: bytes) -> tuple[int, int]:
    start, end = frame.find(b"{"), frame.rfind(b"}")
    if start < 0 or end < start:
        msg = f"the frame holds no JSON object: {frame[:80]!r}"
        raise LookupError(msg)
    return start, end + 1


def replace_json(frame: bytes, payload: bytes) -> bytes:
    """``frame`` with its JSON object replaced by ``payload`` (framing kept)."""
    start, end = _span(frame)
    return frame[:start] + payload + frame[end:]


def break_json(frame: bytes) -> bytes:
    """``frame`` with its JSON object cut in half: a frame whose JSON cannot parse."""
    start, end = _span(frame)
    return frame[:start] + frame[start : start + max(1, (end - start) // 2)] + frame[end:]


def split_inside_characters(raw: bytes) -> list[int]:
    """Every byte offset of ``raw`` that falls inside a multi-byte UTF-8 character."""
    return [i for i in range(1, len(raw)) if raw[i] & 0xC0 == 0x80]


def event_after_first_piece(wire: Any, request: Any, event: bytes) -> Any:
    """The canonical text stream with ``event`` right after its first piece, streamed.

    The stream goes on after the event, as real APIs' do: a plugin that skips the event
    cannot pass by raising its own "truncated" error. ``wire`` is a ``WireFormat``,
    ``request`` the ``CapturedRequest`` answered; the ``Reply`` is streamed frame by frame.
    """
    from lmux_plug_contract import _canon as canon  # noqa: PLC0415 - kept out of import time
    from lmux_plug_contract.wires import Reply  # noqa: PLC0415 - kept out of import time

    rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
    index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
    frames = (*rendering.frames[:index], event, *rendering.frames[index:])
    return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)
