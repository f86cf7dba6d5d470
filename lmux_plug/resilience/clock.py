"""The engine's sense of time: an injectable clock and sleep, and the shipped test mode.

Everything in the resilience engine (backoff sleeps, rate-limit windows, cooldowns,
breaker timers, deadlines) reads time through a :class:`Clock`. Production code uses
:data:`SYSTEM_CLOCK` (``time.monotonic``, ``time.time``, ``asyncio.sleep``). Tests either
pass their own :class:`ManualClock` (time moves only when a sleep or ``advance`` moves it)
or switch the whole engine into test mode with :func:`set_testing` (as
``stamina.set_testing`` does): sleeps return at once and move the system clock forward by
what they would have waited, and retries are capped at ``attempts`` tries per model.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Protocol
from typing import runtime_checkable

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "ManualClock",
    "SystemClock",
    "engine_test_mode",
    "is_testing",
    "set_testing",
    "testing_attempts",
]


@runtime_checkable
class Clock(Protocol):
    """Where the engine reads time and how it waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, deadlines, windows)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (records shared between processes, e.g. breakers)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a cancellation point, like :func:`asyncio.sleep`)."""
        ...


class SystemClock:
    """The real clock; in test mode its sleeps are instant and move its time forward.

    ``monotonic`` and ``time`` are the C functions themselves outside test mode (they are
    read on every routed call), and offset readers in it.
    """

    __slots__ = ("monotonic", "offset", "time", "virtual")

    def __init__(self) -> None:
        self.offset = 0.0  # virtual seconds slept in test mode
        self.virtual = False
        self.monotonic: Callable[[], float] = time.monotonic
        self.time: Callable[[], float] = time.time

    def __repr__(self) -> str:
        return f"SystemClock(virtual={self.virtual}, offset={self.offset:.3f})"

    def _virtual_monotonic(self) -> float:
        return time.monotonic() + self.offset

    def _virtual_time(self) -> float:
        return time.time() + self.offset

    def switch(self, *, virtual: bool) -> None:
        """Enter or leave test mode (time keeps the offset slept so far: it never goes back)."""
        self.virtual = virtual
        if virtual or self.offset:
            self.monotonic = self._virtual_monotonic
            self.time = self._virtual_time
        else:
            self.monotonic = time.monotonic
            self.time = time.time

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``; in test mode, move the clock instead and only yield."""
        import asyncio  # noqa: PLC0415 - ~15 ms to import: not at `import lmux_plug` time

        if self.virtual:
            if seconds > 0:
                self.offset += seconds
            await asyncio.sleep(0)
            return
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock under the test's control: time moves only by :meth:`advance` or sleeps."""

    __slots__ = ("epoch", "now", "slept")

    def __init__(self, start: float = 1000.0, *, epoch: float = 1_800_000_000.0) -> None:
        self.now = start
        self.epoch = epoch
        self.slept: list[float] = []  # every sleep asked for, in order

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now:.3f})"

    def monotonic(self) -> float:
        """The current virtual time."""
        return self.now

    def time(self) -> float:
        """The virtual wall-clock time."""
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, move time forward by it, and yield once to the loop."""
        self.slept.append(seconds)
        if seconds > 0:
            # Always move forward, even by a wait smaller than the float step at ``now``.
            self.now = max(self.now + seconds, math.nextafter(self.now, math.inf))
        import asyncio  # noqa: PLC0415 - ~15 ms to import: not at `import lmux_plug` time

        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
_testing_attempts: int | None = None


def set_testing(enabled: bool, *, attempts: int = 1) -> None:
    """Switch the engine's test mode on or off.

    On: every sleep of :data:`SYSTEM_CLOCK` returns at once (its time moves forward by the
    sleep instead), and routers, the drop-in client and batch limiters make at most
    ``attempts`` tries per model. Off: real time again (the virtual offset is kept, so
    the clock never goes back).
    """
    global _testing_attempts  # noqa: PLW0603 - one process-wide switch, as in stamina
    if attempts < 1:
        msg = f"attempts must be >= 1, got {attempts}"
        raise ValueError(msg)
    SYSTEM_CLOCK.switch(virtual=enabled)
    _testing_attempts = attempts if enabled else None


def is_testing() -> bool:
    """Whether the test mode is on."""
    return _testing_attempts is not None


def testing_attempts() -> int | None:
    """The cap on tries per model in test mode, ``None`` outside it."""
    return _testing_attempts


@contextlib.contextmanager
def engine_test_mode(*, attempts: int = 1) -> Iterator[None]:
    """Test mode for the duration of a ``with`` block (restores the previous mode)."""
    previous = _testing_attempts
    set_testing(True, attempts=attempts)
    try:
        yield
    finally:
        set_testing(previous is not None, attempts=previous or 1)
