"""Cleanup that cancellation cannot interrupt (releasing slots, probes, in-flight counts).

A caller cancelled mid-call (``asyncio.wait_for``, ``task.cancel()``, a client that goes
away) must still give back what it holds. Cleanup runs in ``finally``; when it has to
await I/O (a Redis release), :func:`shielded` runs it in its own task that a second
cancellation of the caller does not stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["shielded"]

_running: set[asyncio.Task[Any]] = set()  # strong references until each cleanup finishes


async def shielded(cleanup: Coroutine[Any, Any, Any]) -> None:
    """Await ``cleanup`` so that it runs to its end even if the caller is cancelled again."""
    task = asyncio.ensure_future(cleanup)
    _running.add(task)
    task.add_done_callback(_running.discard)
    await asyncio.shield(task)
