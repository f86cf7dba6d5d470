"""Response bodies under limits: bounded decompression and size budgets, for every HTTP path.

Both of the transport's paths (the lean HTTP/1.1 client and aiohttp) hand the raw body bytes
they receive to one :class:`BodyDecoder`, so a size limit or a decompression bomb ends the
same way whichever path carried the answer: with :class:`BodyTooLargeError`, before the
memory is spent. Inflating uses ``decompress(data, max_length)`` so one small compressed
piece can never expand past the budget in a single call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zlib

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INFLATE_STEP",
    "BodyDecodeError",
    "BodyDecoder",
    "BodyError",
    "BodyTooLargeError",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # far above any real LLM answer, far below harm
INFLATE_STEP = 256 * 1024  # largest output of one inflate call


class BodyError(Exception):
    """Base of the body failures (both paths map them to :mod:`lmux_plug.errors`)."""


class BodyTooLargeError(BodyError):
    """The body (as received, or once decompressed) passed its configured limit."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} larger than the limit of {limit} bytes")
        self.what = what
        self.limit = limit


class BodyDecodeError(BodyError):
    """The ``content-encoding`` is unknown or the compressed data is corrupt."""


def _inflater(encoding: str) -> zlib._Decompress | None:
    if encoding in ("", "identity"):
        return None
    import zlib  # noqa: PLC0415 - lazy: `import lmux_plug` does not need it

    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        # "deflate" means zlib-wrapped data; 32 + MAX_WBITS also accepts a gzip header.
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    # We only ever send "accept-encoding: gzip, deflate"; anything else (br, zstd) is the
    # server ignoring it, and guessing could hand garbage to the caller.
    msg = f"unsupported content-encoding {encoding!r}"
    raise BodyDecodeError(msg)


class BodyDecoder:
    """Counts the received bytes, inflates them with a bound, and enforces both limits.

    ``max_bytes`` bounds the body as received (compressed or not); ``max_decoded`` bounds
    what decompression produces. ``None`` disables a limit.
    """

    __slots__ = ("_inflater", "decoded", "max_bytes", "max_decoded", "received")

    def __init__(self, encoding: str, *, max_bytes: int | None, max_decoded: int | None) -> None:
        self._inflater = _inflater(encoding.strip().lower()) if encoding else None
        self.max_bytes = max_bytes
        self.max_decoded = max_decoded
        self.received = 0
        self.decoded = 0

    def decode(self, data: bytes, out: list[bytes]) -> int:
        """Append the decoded form of ``data`` to ``out``; return how many bytes were added."""
        self.received += len(data)
        if self.max_bytes is not None and self.received > self.max_bytes:
            raise BodyTooLargeError("response body", self.max_bytes)
        inflater = self._inflater
        if inflater is None:
            self.decoded += len(data)
            out.append(data)
            return len(data)
        added = 0
        pending = data
        limit = self.max_decoded
        while pending:
            try:
                piece = inflater.decompress(pending, INFLATE_STEP)
            except Exception as exc:  # zlib.error (zlib itself is imported lazily)
                msg = f"cannot decompress the response body: {exc}"
                raise BodyDecodeError(msg) from exc
            pending = inflater.unconsumed_tail
            if piece:
                added += len(piece)
                self.decoded += len(piece)
                if limit is not None and self.decoded > limit:
                    raise BodyTooLargeError("decompressed response body", limit)
                out.append(piece)
            elif pending:  # pragma: no cover - zlib consumes input or yields output
                break
        return added

    def finish(self, out: list[bytes]) -> int:
        """Flush what the inflater still holds (the body has ended); return bytes added."""
        inflater = self._inflater
        if inflater is None:
            return 0
        try:
            tail = inflater.flush()
        except Exception as exc:  # pragma: no cover - zlib.error, which flush rarely raises
            msg = f"cannot decompress the response body: {exc}"
            raise BodyDecodeError(msg) from exc
        if not inflater.eof and self.received:
            # The framing said "complete" but the compressed stream did not end: a body
            # cut short must never look whole.
            msg = "the compressed response body ends before its end marker"
            raise BodyDecodeError(msg)
        if not tail:
            return 0
        self.decoded += len(tail)
        if self.max_decoded is not None and self.decoded > self.max_decoded:
            raise BodyTooLargeError("decompressed response body", self.max_decoded)
        out.append(tail)
        return len(tail)
