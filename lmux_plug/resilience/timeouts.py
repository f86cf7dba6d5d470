"""Per-attempt timeouts: cut an attempt that takes too long, as a retryable error.

A hung upstream (connected, never answering) must not use a call's whole deadline: the
attempt is cut after its own timeout and the router retries it elsewhere. The transport
also gets the timeout (``timeout=``), but a plugin may not honour it, so the engine
enforces it around the awaitable too. On Python 3.11+ this is :func:`asyncio.timeout`
(one timer, no extra task); on 3.10, :func:`asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import builtins
import sys
from collections.abc import Awaitable
from typing import TypeVar

from lmux_plug.errors import TimeoutError

__all__ = ["attempt_timeout_error", "within"]

T = TypeVar("T")


def attempt_timeout_error(
    seconds: float, *, model: str | None = None, what: str = "attempt"
) -> TimeoutError:
    """The error for an attempt cut after ``seconds`` (retryable: another try may be fast)."""
    msg = f"{what} timed out after {seconds:.3f}s"
    return TimeoutError(msg, model=model, retryable=True)


if sys.version_info >= (3, 11):

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`.

        ``what`` names the limit in the message (``"attempt"``, ``"call deadline"``).
        """
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await awaitable
        except builtins.TimeoutError:
            if scope.expired():
                raise attempt_timeout_error(seconds, model=model, what=what) from None
            raise

else:  # pragma: no cover - exercised on Python 3.10 only

    async def within(
        awaitable: Awaitable[T], seconds: float, *, model: str | None = None, what: str = "attempt"
    ) -> T:
        """Await ``awaitable``, cutting it after ``seconds`` with a lmux :class:`TimeoutError`."""
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            raise attempt_timeout_error(seconds, model=model, what=what) from None
