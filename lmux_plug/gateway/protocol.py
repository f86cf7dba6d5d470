"""uvicorn's HTTP protocol with a deadline for request headers.

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``), but not a connection that never sends anything, nor one that
sends its headers a byte at a time: enough of those hold every file descriptor of the
process (slowloris). :class:`HeaderDeadlineProtocol` is uvicorn's protocol (httptools
when installed, else h11: :class:`H11DeadlineProtocol`) with a timer that closes the
connection unless the request headers are complete within ``header_timeout`` seconds of
the connection opening or of the request's first byte.

``lmux-plug serve`` passes it to uvicorn (by import string, so ``--workers`` processes
load it too); the deadline comes from ``LMUX_PLUG_GATEWAY_HEADER_TIMEOUT`` (seconds,
default 10), or from :func:`protocol_class` in one process.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "HEADER_TIMEOUT_ENV",
    "H11DeadlineProtocol",
    "HeaderDeadlineProtocol",
    "protocol_class",
]

HEADER_TIMEOUT_ENV = "LMUX_PLUG_GATEWAY_HEADER_TIMEOUT"

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - without httptools uvicorn runs h11
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    _Mixin = asyncio.Protocol
else:
    _Mixin = object


class _HeaderDeadline(_Mixin):
    """The deadline timer, shared by the httptools and h11 protocols below."""

    header_timeout: float = float(os.environ.get(HEADER_TIMEOUT_ENV) or 10.0)
    _header_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: Any

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        """Start the deadline for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline."""
        self._disarm()
        super().connection_lost(exc)


class H11DeadlineProtocol(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline (when httptools is not installed)."""

    def _idle(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or bool(cycle.response_complete)

    def data_received(self, data: bytes) -> None:
        """Feed h11; the deadline runs until a request head has been parsed."""
        idle = self._idle()
        super().data_received(data)
        if idle and not self._idle():
            self._disarm()
        elif idle:
            self._arm()


if HttpToolsProtocol is not None:

    class HeaderDeadlineProtocol(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol; closes a connection whose request head is too slow."""

        def on_message_begin(self) -> None:
            """A request starts (its first byte): its headers are due within the deadline."""
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            """The headers are in: no deadline while the request is served."""
            self._disarm()
            super().on_headers_complete()

else:  # pragma: no cover - without httptools
    HeaderDeadlineProtocol = H11DeadlineProtocol  # type: ignore[assignment,misc]


def protocol_class(header_timeout: float, *, h11: bool = False) -> type[asyncio.Protocol]:
    """:class:`HeaderDeadlineProtocol` (``h11``: the h11 one) with its own ``header_timeout``."""
    base = H11DeadlineProtocol if h11 else HeaderDeadlineProtocol
    return type(base.__name__, (base,), {"header_timeout": header_timeout})
