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
from collections.abc import Callable
from typing import Any
from typing import Protocol
from typing import TypeVar

from lmux_plug.errors import TimeoutError

__all__ = [
    "CUT_IN_TASK",
    "arm",
    "attempt_timeout_error",
    "call_at",
    "cancel",
    "cut",
    "disarm",
    "within",
]

T = TypeVar("T")
_INF = float("inf")


def attempt_timeout_error(
    seconds: float, *, model: str | None = None, what: str = "attempt"
) -> TimeoutError:
    """The error for an attempt cut after ``seconds`` (retryable: another try may be fast)."""
    msg = f"{what} timed out after {seconds:.3f}s"
    return TimeoutError(msg, model=model, retryable=True)


class _Cancellable(Protocol):
    """The part of :class:`asyncio.Task` a timer uses (``uncancel`` is Python 3.11+)."""

    def cancel(self) -> bool: ...

    def uncancel(self) -> int: ...


class _Expiry:
    """One awaiting task's timeout: cancel the task, and remember that the timer did it."""

    __slots__ = ("fired", "task", "tick", "wheel")

    def __init__(self, task: _Cancellable, tick: int, wheel: _Wheel) -> None:
        self.task = task
        self.tick = tick
        self.wheel = wheel
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()


class _Call:
    """A callback on the wheel (:func:`call_at`), as a loop timer would run it."""

    __slots__ = ("argument", "function", "tick", "wheel")

    def __init__(
        self, function: Callable[[Any], object], argument: object, tick: int, wheel: _Wheel
    ) -> None:
        self.function = function
        self.argument = argument
        self.tick = tick
        self.wheel = wheel

    def fire(self) -> None:
        self.function(self.argument)


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
        self.time = loop.time
        self.slots: dict[int, set[_Expiry | _Call]] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.armed = 0  # the tick the loop timer is set for

    def tick_of(self, when: float) -> int:
        """The slot of loop time ``when`` (its end: a timer never fires early)."""
        return int(when / self.RESOLUTION) + 1

    def add(self, task: _Cancellable, seconds: float) -> _Expiry:
        expiry = _Expiry(task, self.tick_of(self.time() + seconds), self)
        self._join(expiry)
        return expiry

    def call_at(self, when: float, function: Callable[[Any], object], argument: object) -> _Call:
        call = _Call(function, argument, self.tick_of(when), self)
        self._join(call)
        return call

    def _join(self, entry: _Expiry | _Call) -> None:
        slot = self.slots.get(entry.tick)
        if slot is None:
            slot = self.slots[entry.tick] = set()
            if self.handle is None or entry.tick < self.armed:
                self._arm(entry.tick)
        slot.add(entry)

    def remove(self, expiry: _Expiry | _Call) -> None:
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
    return _wheel_of(loop)


def _wheel_of(loop: asyncio.AbstractEventLoop) -> _Wheel:
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = _Wheel(loop)
    _last[:] = [wheel]
    return wheel


CUT_IN_TASK = sys.version_info >= (3, 11)
"""Whether :func:`arm` / :func:`disarm` / :func:`cut` work here (they need
``Task.uncancel``, Python 3.11+); elsewhere use :func:`within`."""


def arm(seconds: float) -> _Expiry:
    """Cut the current task after ``seconds`` (Python 3.11+; pair with :func:`disarm`).

    The coroutine-free form of :func:`within`, for a loop that awaits in its own frame:
    ``expiry = arm(s)``, then ``try: await ... finally: disarm(expiry)``, and on
    ``CancelledError`` ask :func:`cut` whether the timer did it.
    """
    loop = asyncio.get_running_loop()
    # Typed loosely: ``Task.uncancel`` is missing from the Python 3.10 stubs.
    task: Any = asyncio.current_task(loop)
    if task is None:  # pragma: no cover - always called from a task
        msg = "arm() needs a running task"
        raise RuntimeError(msg)
    wheel = _last[0] if _last and _last[0].loop is loop else _wheel_of(loop)
    return wheel.add(task, seconds)


def call_at(
    loop: asyncio.AbstractEventLoop,
    when: float,
    function: Callable[[Any], object],
    argument: object,
) -> _Call | None:
    """``loop.call_at(when, function, argument)`` on the loop's wheel; cancel with :func:`cancel`.

    For timeouts that nearly never fire (a response's read timeout): it may run up to one
    10 ms slot late, and costs a slot join and leave instead of a loop timer's handle and
    heap operations. ``when`` is on ``loop.time()``; an infinite one sets no timer (None).
    """
    if when == _INF:
        return None
    wheel = _last[0] if _last and _last[0].loop is loop else _wheel_of(loop)
    return wheel.call_at(when, function, argument)


def cancel(call: _Call | None) -> None:
    """Stop the timer of :func:`call_at` (it may have run already)."""
    if call is not None:
        call.wheel.remove(call)


def disarm(expiry: _Expiry) -> None:
    """Stop the timer of :func:`arm` (it may have fired already)."""
    expiry.wheel.remove(expiry)


def cut(expiry: _Expiry) -> bool:
    """After a ``CancelledError``: whether the timer of ``expiry`` caused it, alone.

    A cancellation asked for by anyone else as well propagates unchanged.
    """
    return expiry.fired and expiry.task.uncancel() == 0


if CUT_IN_TASK:

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`.

        ``what`` names the limit in the message (``"attempt"``, ``"call deadline"``). A
        cancellation from anywhere else propagates unchanged. The cut comes at most 10 ms
        late.
        """
        expiry = arm(seconds)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if cut(expiry):
                raise attempt_timeout_error(seconds, model=model, what=what) from None
            raise
        finally:
            disarm(expiry)

else:  # pragma: no cover - exercised on Python 3.10 only

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`."""
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            raise attempt_timeout_error(seconds, model=model, what=what) from None
