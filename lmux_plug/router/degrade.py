"""A shared state backend that degrades to local state while it is unreachable.

With ``on_state_error="degrade"`` (the router's default), a Redis outage must not fail
calls to a healthy upstream: every operation falls back to an in-process
:class:`~lmux_plug.router.state.MemoryBackend` (limits are then per process, breakers and
key health local), a warning is logged once per outage on ``lmux_plug.router``, and the
shared backend is tried again every ``retry_interval`` seconds; when it answers, an info
line says so and shared state is used again. With ``"fail"``, the
:class:`~lmux_plug.router.state.StateBackendError` reaches the caller.

A slot taken in one backend is always given back to the same one (calls admitted
locally during an outage release locally after it).
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import Literal
from typing import TypeVar

from lmux_plug._secrets import scrubbed_logger
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock
from lmux_plug.router.state import Bucket
from lmux_plug.router.state import MemoryBackend
from lmux_plug.router.state import StateBackend
from lmux_plug.router.state import StateBackendError

__all__ = ["DegradingBackend"]

log = scrubbed_logger("lmux_plug.router")
OnStateError = Literal["degrade", "fail"]
T = TypeVar("T")


class DegradingBackend:
    """``shared``, with local in-memory state standing in while ``shared`` fails."""

    def __init__(
        self,
        shared: StateBackend,
        *,
        on_error: OnStateError = "degrade",
        retry_interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.shared = shared
        self.on_error: OnStateError = on_error
        self.retry_interval = retry_interval
        self._clock = clock or SYSTEM_CLOCK
        self.local = MemoryBackend(clock=self._clock)
        self._retry_at = float("-inf")  # while degraded: when to try the shared one again
        self.degraded = False
        self._local_members: set[str] = set()

    def __repr__(self) -> str:
        state = "degraded" if self.degraded else "shared"
        return f"DegradingBackend({self.shared!r}, on_error={self.on_error!r}, {state})"

    def _use_shared(self) -> bool:
        return not self.degraded or self._clock.monotonic() >= self._retry_at

    def _failed(self, error: StateBackendError) -> None:
        if self.on_error == "fail":
            raise error
        if not self.degraded:
            log.warning(
                "state backend %r unreachable (%s); using local in-memory limits, breakers "
                "and key health until it answers again",
                self.shared,
                error,
            )
        self.degraded = True
        self._retry_at = self._clock.monotonic() + self.retry_interval

    def _recovered(self) -> None:
        if self.degraded:
            self.degraded = False
            log.info("state backend %r answers again; shared state resumed", self.shared)

    async def acquire(
        self, buckets: Sequence[Bucket], member: str, tokens: int, cooldown_key: str
    ) -> float:
        """See :meth:`StateBackend.acquire`."""
        if self._use_shared():
            try:
                wait = await self.shared.acquire(buckets, member, tokens, cooldown_key)
            except StateBackendError as exc:
                self._failed(exc)
            else:
                self._recovered()
                return wait
        wait = await self.local.acquire(buckets, member, tokens, cooldown_key)
        if wait <= 0 and buckets:
            self._local_members.add(member)
        return wait

    async def release(
        self, buckets: Sequence[Bucket], member: str, token_delta: int, *, used: bool = True
    ) -> None:
        """See :meth:`StateBackend.release` (in the backend that admitted ``member``)."""
        if member in self._local_members:
            self._local_members.discard(member)
            await self.local.release(buckets, member, token_delta, used=used)
            return
        try:
            await self.shared.release(buckets, member, token_delta, used=used)
        except StateBackendError as exc:
            # The shared slot expires with its lease; nothing local to give back.
            self._failed(exc)

    async def _shared_or_local(
        self, call: Callable[[StateBackend], Awaitable[T]], *, recover: bool = False
    ) -> T:
        """``call(shared)``; ``call(local)`` while shared is degraded or when it fails.

        ``recover``: a shared answer ends the outage (the info line is logged).
        """
        if self._use_shared():
            try:
                result = await call(self.shared)
            except StateBackendError as exc:
                self._failed(exc)
            else:
                if recover:
                    self._recovered()
                return result
        return await call(self.local)

    async def sync(self, bucket: Bucket, remaining: float, reset: float) -> None:
        """See :meth:`StateBackend.sync`."""
        await self._shared_or_local(lambda state: state.sync(bucket, remaining, reset))

    async def block(self, key: str, seconds: float) -> None:
        """See :meth:`StateBackend.block`."""
        await self._shared_or_local(lambda state: state.block(key, seconds))

    async def get(self, key: str) -> str | None:
        """See :meth:`StateBackend.get`."""
        return await self._shared_or_local(lambda state: state.get(key), recover=True)

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        """See :meth:`StateBackend.cas`."""
        return await self._shared_or_local(lambda state: state.cas(key, expected, value, ttl))

    async def cache_get(self, key: str) -> bytes | None:
        """See :meth:`StateBackend.cache_get`."""
        return await self._shared_or_local(lambda state: state.cache_get(key))

    async def cache_set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`StateBackend.cache_set`."""
        await self._shared_or_local(lambda state: state.cache_set(key, value, ttl))

    async def aclose(self) -> None:
        """Close the shared backend."""
        await self.shared.aclose()
