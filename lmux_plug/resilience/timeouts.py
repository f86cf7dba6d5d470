"""Per-attempt timeouts: cut an attempt that takes too long, as a retryable error.

A hung upstream (connected, never answering) must not use a call's whole deadline: the
attempt is cut after its own timeout and the router retries it elsewhere. The engine
enforces the limit around the awaitable itself (a plugin may ignore ``timeout=``) by
cancelling the awaiting task, as :func:`asyncio.timeout` does, but through a timer wheel
shared by every call on the loop (this runs on every routed call). On Python 3.10,
:func:`asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

from lmux_plug.errors import TimeoutError

__all__ = ["attempt_timeout_error", "within"]

T = TypeVar("T")


def attempt_timeout_error(
    seconds: float, *, model: str | None = None, what: str = "attempt"
) -> TimeoutError:
    """The error for an attempt cut after ``seconds`` (retryable: another try may be fast)."""
    msg = f"{what} timed out after {seconds:.3f}s"
    return TimeoutError(msg, model=model, retryable=True)


class _Expiry:
    """One awaiting task's timeout: cancel the task, and remember that the timer did it."""

    __slots__ = ("fired", "task", "tick")

    def __init__(self, task: asyncio.Task[Any], tick: int) -> None:
        self.task = task
        self.tick = tick
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()


class _Wheel:
    """All the timeouts of one event loop, in 10 ms slots, behind a single loop timer.

    A loop timer per call (``asyncio.timeout``) costs a handle, a context copy and two
    heap operations on every routed call; here a call only joins and leaves a slot. The
    loop timer is moved only when a slot earlier than every other appears, and it fires
    at most once per slot (cutting late by at most one slot).
    """

    RESOLUTION = 0.01

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, set[_Expiry]] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.armed = 0  # the tick the loop timer is set for

    def add(self, task: asyncio.Task[Any], seconds: float) -> _Expiry:
        tick = int((self.loop.time() + seconds) / self.RESOLUTION) + 1
        expiry = _Expiry(task, tick)
        slot = self.slots.get(tick)
        if slot is None:
            slot = self.slots[tick] = set()
            if self.handle is None or tick < self.armed:
                self._arm(tick)
        slot.add(expiry)
        return expiry

    def remove(self, expiry: _Expiry) -> None:
        slot = self.slots.get(expiry.tick)
        if slot is not None:
            slot.discard(expiry)
            if not slot:
                del self.slots[expiry.tick]

    def _arm(self, tick: int) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.armed = tick
        self.handle = self.loop.call_at(tick * self.RESOLUTION, self._fire)

    def _fire(self) -> None:
        self.handle = None
        now = self.loop.time()
        for tick in sorted(t for t in self.slots if t * self.RESOLUTION <= now):
            for expiry in self.slots.pop(tick):
                expiry.fire()
        if self.slots:
            self._arm(min(self.slots))


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wheel] = weakref.WeakKeyDictionary()


_last: list[_Wheel] = []  # the wheel used last: nearly always the running loop's


def _wheel() -> _Wheel:
    loop = asyncio.get_running_loop()
    if _last and _last[0].loop is loop:
        return _last[0]
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = _Wheel(loop)
    _last[:] = [wheel]
    return wheel


if sys.version_info >= (3, 11):

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`.

        ``what`` names the limit in the message (``"attempt"``, ``"call deadline"``). A
        cancellation from anywhere else propagates unchanged. The cut comes at most 10 ms
        late.
        """
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always called from a task
            return await awaitable
        wheel = _wheel()
        expiry = wheel.add(task, seconds)
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only if the timer fired and nobody else asked for a cancellation too.
            if expiry.fired and task.uncancel() == 0:
                raise attempt_timeout_error(seconds, model=model, what=what) from None
            raise
        finally:
            wheel.remove(expiry)

else:  # pragma: no cover - exercised on Python 3.10 only

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`."""
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            raise attempt_timeout_error(seconds, model=model, what=what) from None
