"""Run the async core from sync code: plain scripts, threads and notebooks alike.

* In a thread with no running event loop (a script, a worker thread) the coroutine runs on
  a private loop owned by that thread, reused across calls so connection pools survive.
* In a thread whose loop is already running (Jupyter, an async framework calling sync
  code) it runs on one background loop thread and the caller blocks on the result.

No ``asyncio.run``: that would close the loop, and with it the pooled connections.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["LoopRunner"]

T = TypeVar("T")


class LoopRunner:
    """Owns the event loops that the sync API of one registry runs on."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._background: asyncio.AbstractEventLoop | None = None
        self._background_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __del__(self) -> None:
        # A registry dropped without close(): close its idle private loops so they do not
        # leak file descriptors. Pools on them are already unreachable garbage by now.
        for loop in list(self._loops):
            if not loop.is_running() and not loop.is_closed() and loop is not self._background:
                loop.close()
        if self._background is not None and not self._background.is_closed():
            self._background.call_soon_threadsafe(self._background.stop)

    # -- loops ---------------------------------------------------------------------------

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
            self._loops.append(loop)
        return loop

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        with self._lock:
            if self._background is None or self._background.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="lmux-plug-sync", daemon=True)
                thread.start()
                ready.wait()
                self._background, self._background_thread = loop, thread
                self._loops.append(loop)
            return self._background

    @staticmethod
    def _in_running_loop() -> bool:
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    # -- running -------------------------------------------------------------------------

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run the awaitable that ``make()`` builds and return its result."""
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        if not self._in_running_loop():
            loop = self._thread_loop()
            task = loop.create_task(_as_coroutine(make))
            try:
                return loop.run_until_complete(task)
            except BaseException:
                # Ctrl-C (KeyboardInterrupt) stops the loop with the call still in flight:
                # cancel it and let it unwind now, so it releases its connection instead of
                # failing later as a "Task exception was never retrieved" traceback.
                if not task.done():
                    task.cancel()
                    _drain(loop, task)
                raise
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(make), self._background_loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # interrupted while waiting: the call on the loop thread stops too
            raise

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Drive the async iterator that ``make()`` builds, yielding its items.

        Leaving the loop early (``break``, an exception, garbage collection) closes the
        async iterator on its loop, which releases its connection.
        """
        iterator = make()
        try:
            while True:
                try:
                    yield self.run(lambda: _anext(iterator))
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                self.run(aclose)
                # A closed transport drops its socket in a callback scheduled on the loop;
                # a private loop only runs during calls, so let it run that callback now.
                self.run(_settle)

    def close(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run ``cleanup`` on every loop this runner made, then close those loops."""
        for loop in list(self._loops):
            if loop.is_closed():
                continue
            if loop is self._background:
                import asyncio  # noqa: PLC0415 - lazy: a runner that made no loop needs none

                asyncio.run_coroutine_threadsafe(_as_coroutine(cleanup), loop).result()
                loop.call_soon_threadsafe(loop.stop)
                if self._background_thread is not None:
                    self._background_thread.join()
                loop.close()
            elif not loop.is_running():
                loop.run_until_complete(_as_coroutine(cleanup))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
        self._loops = []
        self._background = None
        self._local = threading.local()


def _drain(loop: asyncio.AbstractEventLoop, task: asyncio.Task[T]) -> None:
    """Run the loop until the cancelled ``task`` has finished, whatever it ends with."""
    import contextlib  # noqa: PLC0415 - only after an interrupt

    # Its outcome is moot: the caller re-raises what interrupted it.
    with contextlib.suppress(BaseException):
        loop.run_until_complete(task)


async def _as_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


async def _settle() -> None:
    import asyncio  # noqa: PLC0415 - lazy, like the rest of this module

    await asyncio.sleep(0)
    await asyncio.sleep(0)
