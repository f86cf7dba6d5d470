"""Per-key request limits and budgets, kept in the router's state backend.

Every gateway process that shares a backend (:class:`~lmux_plug.router.state.MemoryBackend`
in one process, :class:`~lmux_plug.router.state.RedisBackend` across ``--workers`` and
hosts) shares one limit and one budget per key:

* ``rpm``: a ``requests`` :class:`~lmux_plug.router.state.Bucket` per key, taken at
  admission and re-stamped when the call ends (the backend's sliding window).
* ``budget_usd``: a counter of nano-dollars. :meth:`Accounts.admit` atomically adds the
  call's worst-case cost if the total stays within the budget (else 429
  ``budget_exceeded``); :meth:`Accounts.settle` then replaces the reservation with what
  the call cost. Reserved money is spent money until settled, so concurrent calls can
  never overspend, in one process or many.
"""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import Any

import attrs

from lmux_plug._secrets import scrubbed_logger
from lmux_plug.errors import LmuxError
from lmux_plug.gateway.budget import from_nano
from lmux_plug.gateway.budget import to_nano
from lmux_plug.gateway.errors import GatewayError
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.router.state import Bucket
from lmux_plug.router.state import CounterBackend
from lmux_plug.router.state import MemoryBackend

__all__ = ["Accounts", "Ticket"]

log = scrubbed_logger("lmux_plug.gateway")


@attrs.define
class Ticket:
    """One admitted call: the rpm slot and the money it holds until settled."""

    key: VirtualKey | None
    buckets: tuple[Bucket, ...] = ()
    member: str = ""
    reserved: int = 0  # nano-dollars
    settled: bool = False


_FREE = Ticket(None)


def _budget_refused(key: VirtualKey, worst: Decimal, spent: Decimal) -> GatewayError:
    assert key.budget is not None  # noqa: S101 - only called for budgeted keys
    if spent >= key.budget:
        msg = f"key {key.name!r} has spent its budget of ${key.budget}"
    else:
        msg = (
            f"key {key.name!r}: this call may cost up to ${worst.normalize():f}, more than "
            f"the ${(key.budget - spent).normalize():f} left of its budget (lower max_tokens)"
        )
    # x-should-retry tells the openai SDK not to retry: waiting will not help.
    return GatewayError(
        429,
        msg,
        type="insufficient_quota",
        code="budget_exceeded",
        headers={"x-should-retry": "false"},
    )


def _backend_down(exc: LmuxError) -> GatewayError:
    # Budgets fail closed: without the shared ledger no call can be proven affordable.
    log.error("gateway state backend failed: %s", exc)
    return GatewayError(
        503,
        "the gateway cannot reach its state backend; retry shortly",
        type="service_unavailable",
        code="state_unavailable",
        headers={"retry-after": "1"},
    )


class Accounts:
    """Admits and settles calls of virtual keys against a shared state backend."""

    def __init__(self, state: Any = None, *, prefix: str = "gw") -> None:
        self.state = state if state is not None else MemoryBackend()
        if not isinstance(self.state, CounterBackend):
            msg = f"{type(self.state).__name__} has no counters (see CounterBackend)"
            raise TypeError(msg)
        self._prefix = prefix

    def _budget_key(self, key: VirtualKey) -> str:
        return f"{self._prefix}:spent:{key.key_hash[:16]}"

    def _rpm_bucket(self, key: VirtualKey) -> Bucket:
        assert key.rpm is not None  # noqa: S101
        return Bucket(f"{self._prefix}:rpm:{key.key_hash[:16]}", "requests", key.rpm, key.window)

    async def admit(self, key: VirtualKey | None, worst: Decimal | None = None) -> Ticket:
        """Take an rpm slot and reserve ``worst`` (budgeted keys); 429 when refused."""
        if key is None or (key.rpm is None and key.budget is None):
            return _FREE
        ticket = Ticket(key)
        try:
            if key.rpm is not None:
                bucket = self._rpm_bucket(key)
                member = uuid.uuid4().hex
                wait = await self.state.acquire((bucket,), member, 0, f"{self._prefix}:{key.name}")
                if wait > 0:
                    raise _rate_limited(key, wait)
                ticket.buckets, ticket.member = (bucket,), member
            if key.budget is not None:
                amount = to_nano(worst if worst is not None else Decimal(0))
                total = await self.state.counter_reserve(
                    self._budget_key(key), amount, to_nano(key.budget)
                )
                if total is None:
                    spent = from_nano(await self.state.counter_get(self._budget_key(key)))
                    await self._release(ticket, used=False)
                    raise _budget_refused(key, worst or Decimal(0), spent)
                ticket.reserved = amount
        except LmuxError as exc:
            await self._release(ticket, used=False)
            raise _backend_down(exc) from None
        return ticket

    async def _release(self, ticket: Ticket, *, used: bool) -> None:
        if ticket.buckets:
            buckets, ticket.buckets = ticket.buckets, ()
            try:
                await self.state.release(buckets, ticket.member, 0, used=used)
            except LmuxError:
                log.warning(
                    "could not release the rpm slot of key %r", ticket.key and ticket.key.name
                )

    async def settle(self, ticket: Ticket, cost: Decimal | None) -> None:
        """The call ended: charge ``cost`` instead of the reservation (``None``: keep it all)."""
        if ticket.settled or ticket.key is None:
            return
        ticket.settled = True
        await self._release(ticket, used=True)
        if ticket.key.budget is None or cost is None:
            return
        delta = to_nano(cost) - ticket.reserved
        if delta:
            try:
                await self.state.counter_add(self._budget_key(ticket.key), delta)
            except LmuxError:
                # The reservation stays charged: the key pays the worst case, never less.
                log.warning("could not settle a call of key %r", ticket.key.name)

    async def spent(self, key: VirtualKey) -> Decimal:
        """What ``key`` has spent, counting calls still in flight at their worst case."""
        return from_nano(await self.state.counter_get(self._budget_key(key)))


def _rate_limited(key: VirtualKey, wait: float) -> GatewayError:
    msg = f"key {key.name!r} is over its limit of {key.rpm} requests per minute"
    return GatewayError(
        429,
        msg,
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers={
            "retry-after": str(max(math.ceil(wait), 1)),
            "retry-after-ms": str(max(int(wait * 1000), 1)),
        },
    )
