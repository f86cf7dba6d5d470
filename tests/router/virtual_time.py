"""An event loop on virtual time: time moves only while the loop would otherwise wait.

Throughput claims ("the router uses 97% of a pooled quota") measured on the wall clock
depend on how busy the machine is: on a loaded CI runner the event loop lags, a token
bucket with ``burst=1`` loses the capacity it could not spend in time, and the count falls
short for reasons that have nothing to do with the router. On this loop, CPU time costs no
time at all: ``loop.time()`` stands still while callbacks run, and jumps to the next timer
only when nothing is ready and no socket has anything to read. The router (through a
:class:`LoopClock`), the fake server's quota windows and the test's own stopwatch all read
that one clock, so a run gives the same figures on an idle laptop and a loaded runner.

Sockets stay real (the router talks HTTP to fake servers on 127.0.0.1): before each jump
the loop polls them for ``grace`` seconds of real time, so an answer already on its way
over loopback is read before time moves on.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.BaseSelector):
    """A selector that, instead of blocking until the next timer, moves time to it."""

    def __init__(self, loop_time: list[float], grace: float) -> None:
        self._inner = selectors.DefaultSelector()
        self._now = loop_time  # one-element list: the virtual time the loop reads
        self._grace = grace
        self.jumps = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready sockets now; if there are none, the loop's wait is skipped in virtual time."""
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        # Nothing ready: give I/O already in flight (a loopback answer, a thread's wake-up)
        # a moment of real time before deciding the loop is idle.
        ready = self._inner.select(self._grace)
        if ready:
            return ready
        if timeout is None:  # no timer at all: only I/O can wake the loop
            return self._inner.select(None)
        self._now[0] += timeout
        self.jumps += 1
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual (see the module docstring)."""

    def __init__(self, *, grace: float = 0.002) -> None:
        self._virtual_now = [1000.0]
        self.selector = _JumpingSelector(self._virtual_now, grace)
        super().__init__(self.selector)

    def time(self) -> float:
        """The virtual time: moved only by jumps to the next timer."""
        return self._virtual_now[0]


class LoopClock:
    """The engine's :class:`~lmux_plug.resilience.clock.Clock` read from the running loop.

    Its wall-clock ``time()`` starts at the real wall clock when first read and then moves
    with the loop, so an HTTP-date a server wrote a moment ago means the same wait here.
    """

    def __init__(self) -> None:
        self._epoch: float | None = None

    def monotonic(self) -> float:
        """The running loop's time."""
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        """The loop's time as wall-clock seconds."""
        if self._epoch is None:
            self._epoch = time.time() - self.monotonic()
        return self._epoch + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop's timers."""
        await asyncio.sleep(seconds)


def run_in_virtual_time(main: Coroutine[Any, Any, T], *, grace: float = 0.002) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop`, then close it."""
    loop = VirtualTimeLoop(grace=grace)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
