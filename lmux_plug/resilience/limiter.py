"""A waiting rate limiter over the state backend's buckets (batch runs, single targets).

The router admits each call against the buckets of the deployment it picks; a batch run
(``--rpm`` / ``--tpm``) has one target, so it only needs to wait for capacity. Both use the
same buckets in the same :class:`~lmux_plug.router.state.StateBackend` (in memory, or
Redis to share one quota between processes and hosts), so there is one implementation of
rate-limit windows and token buckets. A :meth:`Limiter.slot` is given back in ``finally``:
a cancelled or failed call never keeps its slot.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from collections.abc import Sequence
from contextlib import asynccontextmanager

from lmux_plug.errors import ConfigurationError
from lmux_plug.resilience.cancel import shielded
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock
from lmux_plug.router.state import Bucket
from lmux_plug.router.state import MemoryBackend
from lmux_plug.router.state import StateBackend

__all__ = ["Limiter", "Permit", "per_minute_buckets"]


def per_minute_buckets(
    name: str, *, rpm: float | None = None, tpm: float | None = None, minute: float = 60.0
) -> tuple[Bucket, ...]:
    """Buckets for ``rpm`` requests and ``tpm`` tokens per minute, bursting one second's worth.

    Requests are spaced ``minute / rpm`` apart after a burst of ``rpm / 60`` (at least 1);
    tokens refill continuously into a bucket holding one second's worth (at least 1).
    """
    buckets: list[Bucket] = []
    for label, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None and (isinstance(value, bool) or value <= 0):
            msg = f"a rate limit must be positive, got {label}={value!r}"
            raise ConfigurationError(msg)
    if rpm:
        burst = max(rpm * 1.0 / 60.0, 1.0)
        buckets.append(Bucket(f"{name}:rpm", "requests", float(rpm), minute, burst=burst))
    if tpm:
        buckets.append(Bucket(f"{name}:tpm", "tokens", float(tpm), minute, max(tpm / 60.0, 1.0)))
    return tuple(buckets)


class Permit:
    """A call admitted by a :class:`Limiter`; set :attr:`used_tokens` once usage is known."""

    __slots__ = ("estimate", "member", "sent", "used_tokens")

    def __init__(self, member: str, estimate: int) -> None:
        self.member = member
        self.estimate = estimate
        self.used_tokens: int | None = None
        self.sent = True  # False: the call never reached the provider (slot given back)


class Limiter:
    """Wait for capacity in ``buckets`` of ``backend`` before each call."""

    def __init__(
        self,
        buckets: Sequence[Bucket],
        *,
        backend: StateBackend | None = None,
        clock: Clock | None = None,
        name: str = "limiter",
    ) -> None:
        self.buckets = tuple(buckets)
        self.clock = clock or SYSTEM_CLOCK
        self.backend: StateBackend = backend or MemoryBackend(clock=self.clock)
        self.name = name
        self.counts_tokens = any(b.kind == "tokens" for b in self.buckets)
        self._members = itertools.count()
        self._prefix = f"{os.getpid()}-{id(self):x}-"
        self._lock = asyncio.Lock()  # first come, first served

    def __repr__(self) -> str:
        return f"Limiter({self.name!r}, buckets={[b.key for b in self.buckets]})"

    async def acquire(self, tokens: int = 0) -> Permit:
        """Wait until the call fits in every bucket and take its slot (and ``tokens``)."""
        permit = Permit(f"{self._prefix}{next(self._members)}", tokens)
        if not self.buckets:
            return permit
        async with self._lock:
            while True:
                try:
                    wait = await self.backend.acquire(
                        self.buckets, permit.member, tokens, self.name
                    )
                except BaseException:
                    # Cancelled while a shared backend may have admitted us: free the slot.
                    await shielded(self.backend.release(self.buckets, permit.member, 0, used=False))
                    raise
                if wait <= 0:
                    return permit
                await self.clock.sleep(wait)

    async def release(self, permit: Permit) -> None:
        """Give the slot back (re-stamped at completion) and reconcile the token estimate."""
        if not self.buckets:
            return
        delta = 0
        if permit.used_tokens is not None and self.counts_tokens:
            delta = permit.used_tokens - permit.estimate
        elif not permit.sent:
            delta = -permit.estimate
        await self.backend.release(self.buckets, permit.member, delta, used=permit.sent)

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[Permit]:
        """``async with limiter.slot(estimate) as permit:`` released whatever happens.

        On an error or a cancellation the release is shielded from a second cancellation,
        so a cancelled caller never keeps a slot.
        """
        permit = await self.acquire(tokens)
        try:
            yield permit
        except BaseException:
            await shielded(self.release(permit))
            raise
        await self.release(permit)
