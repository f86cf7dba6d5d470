"""Key pools: several API keys per deployment, used round robin.

A 429 rotates to the next key; a 401/403 evicts the key (in the state backend, so other
processes stop using it too; logged by fingerprint, never by value). When every key is
evicted, the pool raises :class:`~lmux_plug.errors.AuthenticationError`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from lmux_plug._secrets import scrubbed_logger
from lmux_plug.errors import AuthenticationError
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock

if TYPE_CHECKING:
    from lmux_plug._types import Secret
    from lmux_plug.router.state import StateBackend

__all__ = ["KeyPool", "fingerprint"]

log = scrubbed_logger("lmux_plug.router")
_DEAD_TTL = 7 * 86400.0


def fingerprint(key: Secret) -> str:
    """A short, non-reversible name for a key, safe for logs and stats."""
    return "k-" + hashlib.sha256(key.reveal().encode()).hexdigest()[:8]


class KeyPool:
    """The keys of one deployment; ``refresh_interval`` bounds reads of shared health."""

    def __init__(
        self,
        deployment: str,
        keys: tuple[Secret, ...],
        *,
        refresh_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.deployment = deployment
        self._clock = clock or SYSTEM_CLOCK
        self.keys = keys
        self.fingerprints = tuple(fingerprint(k) for k in keys)
        self.dead: set[str] = set()
        self._next = 0
        self._refresh_interval = refresh_interval
        self._refreshed = float("-inf")

    def __repr__(self) -> str:
        return f"KeyPool({self.deployment!r}, keys={len(self.keys)}, dead={len(self.dead)})"

    def _record(self, fp: str) -> str:
        return f"keydead:{self.deployment}:{fp}"

    def refresh_due(self) -> bool:
        """Whether :meth:`refresh` would read the backend now (a cheap check, no I/O)."""
        return self._clock.monotonic() - self._refreshed >= self._refresh_interval

    async def refresh(self, backend: StateBackend) -> None:
        """Learn keys evicted by other processes (at most every ``refresh_interval``)."""
        now = self._clock.monotonic()
        if now - self._refreshed < self._refresh_interval:
            return
        self._refreshed = now
        for fp in self.fingerprints:
            if fp not in self.dead and await backend.get(self._record(fp)) is not None:
                self.dead.add(fp)
                log.info(
                    "API key %s of deployment %s was evicted by another process",
                    fp,
                    self.deployment,
                )

    def pick(self) -> tuple[Secret, str]:
        """The next live key (round robin) and its fingerprint."""
        count = len(self.keys)
        if not self.dead:  # every key alive (the usual case): the next one
            index = self._next % count
            self._next += 1
            return self.keys[index], self.fingerprints[index]
        for _ in range(count):
            index = self._next % count
            self._next += 1
            fp = self.fingerprints[index]
            if fp not in self.dead:
                return self.keys[index], fp
        msg = f"every API key of deployment {self.deployment!r} was rejected (401/403)"
        raise AuthenticationError(msg)

    def rotate(self, fp: str) -> None:
        """After a 429 on ``fp``: make sure the next pick is another key."""
        index = self.fingerprints.index(fp) if fp in self.fingerprints else -1
        if index >= 0 and self._next % len(self.keys) == (index + 1) % len(self.keys):
            return  # round robin already moves on
        self._next = index + 1

    async def evict(self, fp: str, backend: StateBackend) -> None:
        """Stop using ``fp`` (here and, through the backend, in every process)."""
        if fp in self.dead:
            return
        self.dead.add(fp)
        log.warning(
            "API key %s of deployment %s rejected; evicted from the pool", fp, self.deployment
        )
        await backend.cas(self._record(fp), None, "1", _DEAD_TTL)

    @property
    def alive(self) -> int:
        """How many keys are still usable."""
        return len(self.keys) - len(self.dead)
