"""Singleflight: identical concurrent calls share one upstream call.

The first caller with a key runs the call; callers arriving while it is in flight await
the same result (or the same exception). Nothing is remembered after it finishes (that
is the cache's job).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Deduplicates concurrent calls by key (per event loop, per process)."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[T]] = {}
        self.shared = 0  # calls answered by another caller's upstream call

    def __len__(self) -> int:
        return len(self._inflight)

    async def do(self, key: str, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``call`` once for concurrent callers of ``key``; return (result, shared)."""
        future = self._inflight.get(key)
        if future is not None:
            self.shared += 1
            # shield: one waiter being cancelled must not cancel the shared call.
            return await asyncio.shield(future), True
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await call()
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            del self._inflight[key]
