"""Circuit breaker per deployment (provider + base URL), stored in the state backend.

States: **closed** (calls flow; consecutive retryable failures are counted) → **open**
after ``threshold`` of them (calls are refused until the cooldown ends) → **half-open**
(up to ``probes`` trial calls; one success closes it, one failure re-opens it with a
doubled cooldown, capped). Errors that say nothing about the endpoint's health (400,
401, 403, 404: :attr:`LmuxError.retryable` is false) never trip it.

Records are small JSON strings updated by compare-and-set, so many processes sharing a
:class:`~lmux_plug.router.state.RedisBackend` share one breaker. Times are wall-clock.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from typing import Literal

import attrs

from lmux_plug._secrets import scrubbed_logger
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock

if TYPE_CHECKING:
    from lmux_plug.router.state import StateBackend

__all__ = ["Breaker", "BreakerState", "record_key"]

BreakerState = Literal["closed", "open", "half-open"]
_CAS_TRIES = 8
log = scrubbed_logger("lmux_plug.router")


def record_key(name: str) -> str:
    """The backend key of the breaker record of deployment ``name``."""
    return "breaker:" + name


@attrs.define
class _Record:
    state: BreakerState = "closed"
    failures: int = 0
    until: float = 0.0
    openings: int = 0
    probes: int = 0

    def dump(self) -> str:
        return json.dumps([self.state, self.failures, self.until, self.openings, self.probes])

    @classmethod
    def load(cls, text: str | None) -> _Record:
        if not text:
            return cls()
        state, failures, until, openings, probes = json.loads(text)
        return cls(state, failures, until, openings, probes)


class Breaker:
    """The breaker policy; the state of each breaker lives in a backend under ``key``."""

    def __init__(
        self,
        backend: StateBackend,
        *,
        threshold: int = 5,
        cooldown: float = 5.0,
        max_cooldown: float = 300.0,
        probes: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.backend = backend
        self._clock = clock or SYSTEM_CLOCK
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.probes = probes
        # Records outlive the longest cooldown, so re-opening keeps growing.
        self._ttl = max(max_cooldown * 4, 3600.0)

    def _key(self, name: str) -> str:
        return record_key(name)

    async def state(self, name: str) -> BreakerState:
        """The breaker's state as callers see it now (open turns half-open after cooldown)."""
        return self.state_of(await self.backend.get("breaker:" + name))

    def state_of(self, raw: str | None) -> BreakerState:
        """The state a stored record (``backend.get("breaker:" + name)``) means now."""
        if raw is None:
            return "closed"  # never failed: the hot path builds no record
        record = _Record.load(raw)
        if record.state == "open" and self._clock.time() >= record.until:
            return "half-open"
        return record.state

    async def retry_in(self, name: str) -> float:
        """Seconds until an open breaker lets a probe through (0 if not open)."""
        record = _Record.load(await self.backend.get(self._key(name)))
        if record.state != "open":
            return 0.0
        return max(record.until - self._clock.time(), 0.0)

    async def allow(self, name: str) -> bool:
        """Whether a call may go to ``name`` now; in half-open, take a probe slot."""
        key = self._key(name)
        for _ in range(_CAS_TRIES):
            raw = await self.backend.get(key)
            if raw is None:
                return True  # never failed: the fast path
            record = _Record.load(raw)
            if record.state == "closed":
                return True
            if record.state == "open":
                if self._clock.time() < record.until:
                    return False
                record.state, record.probes = "half-open", 0
            if record.probes >= self.probes:
                return False
            record.probes += 1
            if await self.backend.cas(key, raw, record.dump(), self._ttl):
                return True
        return False

    async def record(self, name: str, *, failed: bool) -> BreakerState:
        """Record the outcome of a call (``failed``: a retryable failure); return the state."""
        key = self._key(name)
        for _ in range(_CAS_TRIES):
            raw = await self.backend.get(key)
            if raw is None and not failed:
                return "closed"
            record = _Record.load(raw)
            if not failed:
                if record.state == "closed" and record.failures == 0:
                    return "closed"
                new = _Record()  # success closes and forgets (openings restart from 1)
            elif record.state == "half-open" or (
                record.state == "closed" and record.failures + 1 >= self.threshold
            ):
                cooldown = min(self.cooldown * 2.0**record.openings, self.max_cooldown)
                new = _Record("open", 0, self._clock.time() + cooldown, record.openings + 1, 0)
            elif record.state == "open":
                return "open"  # a straggler from before the breaker opened
            else:
                new = attrs.evolve(record, failures=record.failures + 1)
            if await self.backend.cas(key, raw, new.dump(), self._ttl):
                if new.state != record.state:
                    _log_transition(name, record.state, new.state, new.until - self._clock.time())
                return new.state
        return "closed"

    async def abandon(self, name: str) -> None:
        """Give back a half-open probe slot whose call ended without an outcome (cancelled).

        Without this, a cancelled probe would leave the breaker half-open with no free
        probe slot, refusing every call until its record expired.
        """
        key = self._key(name)
        for _ in range(_CAS_TRIES):
            raw = await self.backend.get(key)
            if raw is None:
                return
            record = _Record.load(raw)
            if record.state != "half-open" or record.probes <= 0:
                return
            record.probes -= 1
            if await self.backend.cas(key, raw, record.dump(), self._ttl):
                log.info("breaker %s: cancelled probe given back", name)
                return

    async def probe_slots(self, name: str) -> int:
        """Probe slots taken in half-open state (0 otherwise), for checks and stats."""
        record = _Record.load(await self.backend.get(self._key(name)))
        return record.probes if record.state == "half-open" else 0

    async def snapshot(self, name: str) -> dict[str, object]:
        """State, consecutive failures and times opened, for stats."""
        record = _Record.load(await self.backend.get(self._key(name)))
        state: BreakerState = record.state
        if state == "open" and self._clock.time() >= record.until:
            state = "half-open"
        return {"state": state, "failures": record.failures, "openings": record.openings}


def _log_transition(name: str, before: str, after: str, open_for: float) -> None:
    if after == "open":
        log.warning("breaker %s: %s -> open for %.3fs", name, before, max(open_for, 0.0))
    else:
        log.info("breaker %s: %s -> %s", name, before, after)
