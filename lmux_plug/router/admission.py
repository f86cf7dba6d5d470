"""Admission: pick a deployment that can take a call now, and settle it afterwards.

:meth:`Admission.admit` walks the target's deployments in the strategy's order and takes
the first one whose breaker, key pool, cooldown and rate-limit buckets let the call in
(waiting for capacity within the call's deadline when every one is full).
:meth:`Admission.settle` gives the admission back with the outcome (re-stamped slots,
token reconciliation, rate-limit headers, cooldowns, key eviction, breaker, counters);
:meth:`Admission.abandon` gives it back for a call that ended without an outcome
(cancelled). The attempt loop calls one of the two in ``finally``: a cancelled caller never
keeps a rate-limit slot, an in-flight count or a half-open probe.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import attrs

from lmux_plug._secrets import scrubbed_logger
from lmux_plug._types import Secret
from lmux_plug._types import Usage
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.resilience.cancel import shielded
from lmux_plug.resilience.clock import Clock
from lmux_plug.resilience.retry_after import clamp_delay
from lmux_plug.router.breaker import Breaker
from lmux_plug.router.breaker import BreakerState
from lmux_plug.router.plan import CallOptions
from lmux_plug.router.plan import DeploymentRuntime
from lmux_plug.router.plan import Target
from lmux_plug.router.state import Bucket
from lmux_plug.router.state import MemoryBackend
from lmux_plug.router.state import StateBackend
from lmux_plug.router.stats import Counters
from lmux_plug.router.stats import StatsBook

__all__ = ["Admission", "Admitted"]

log = scrubbed_logger("lmux_plug.router")
_INF = float("inf")


@attrs.define(eq=False)  # identity semantics: each admission is one held slot
class Admitted:
    """A call let in on one deployment: what it holds until it is settled.

    Built positionally, once per attempt on the hot path (attrs writes the same ``__init__``
    a hand-written class would, with ``__slots__``).
    """

    runtime: DeploymentRuntime
    key: Secret | None
    fp: str | None
    buckets: tuple[Bucket, ...]
    member: str
    tokens: int
    wait: float
    probe: bool = False  # holds a half-open breaker's probe slot
    key_stats: Counters | None = None  # the key's counters, when a pool key is used


class Admission:
    """Admit calls to deployments and settle them, against one state backend."""

    def __init__(
        self,
        backend: StateBackend,
        breaker: Breaker,
        book: StatsBook,
        clock: Clock,
        member_prefix: str,
    ) -> None:
        self.backend = backend
        self.breaker = breaker
        self.book = book
        self.clock = clock
        # A backend that does I/O can be interrupted mid-release: releases then run shielded.
        # The in-process one is called without coroutines on the hot path.
        self.memory = backend if isinstance(backend, MemoryBackend) else None
        self.shared = self.memory is None
        self.retry_after_cap = 60.0
        self.breaker_seen: dict[str, BreakerState] = {}
        self._breaker_dirty: set[str] = set()
        self._member_prefix = member_prefix
        self._members = 0

    async def admit(
        self,
        target: Target,
        tokens_estimate: Callable[[], int],
        options: CallOptions,
        deadline_at: float,
        failed: set[str] | None = None,
    ) -> Admitted:
        """Pick a deployment that can take the call now, waiting for capacity if needed.

        Deployments in ``failed`` (those that already failed this call) go last, so a
        retry goes elsewhere when it can. Raises (holding nothing) when no deployment
        can take it within the deadline.
        """
        waited = 0.0
        while True:
            soonest = _INF  # the soonest a quota or cooldown frees up
            breaker_soonest = _INF  # the soonest an open breaker lets a probe in
            auth_error: AuthenticationError | None = None
            for tier in target.tiers:
                order = (
                    tier.items
                    if len(tier.items) < 2
                    else tier.order(
                        target.strategy,
                        sticky_key=options.sticky_key,
                        busy=self.book.busy,
                        latency=self.book.latency,
                    )
                )
                if failed and len(order) > 1:
                    order = sorted(order, key=lambda r: r.id in failed)  # stable: keeps order
                memory = self.memory
                for runtime in order:
                    state: BreakerState
                    if memory is not None:
                        raw = memory.get_now(runtime.breaker_key)
                        state = "closed" if raw is None else self.breaker.state_of(raw)
                    else:
                        state = await self.breaker.state(runtime.id)
                    if state == "open":
                        retry_in = await self.breaker.retry_in(runtime.id)
                        breaker_soonest = min(breaker_soonest, retry_in or 0.001)
                        continue
                    key = fp = None
                    keys = runtime.keys
                    if keys is not None:
                        if keys.refresh_due():
                            await keys.refresh(self.backend)
                        try:
                            key, fp = keys.pick()
                        except AuthenticationError as exc:
                            auth_error = exc
                            continue
                    if memory is not None and state == "closed":
                        admitted = self._take_now(memory, runtime, key, fp, tokens_estimate, waited)
                    else:
                        admitted = await self._take(
                            runtime,
                            key,
                            fp,
                            tokens_estimate=tokens_estimate,
                            state=state,
                            waited=waited,
                        )
                    if isinstance(admitted, Admitted):
                        return admitted
                    soonest = min(soonest, admitted)
            remaining = deadline_at - self.clock.monotonic()
            if soonest == _INF:
                # Nothing to wait for: fail fast, so the chain moves on to a fallback.
                if breaker_soonest < _INF:
                    msg = f"every usable deployment of {target.name!r} has an open circuit breaker"
                    raise ProviderError(msg, model=target.name, retry_after=breaker_soonest)
                if auth_error is not None:
                    raise auth_error
                msg = f"no deployment of {target.name!r} is usable"
                raise ProviderError(msg, model=target.name, retryable=False)
            soonest = min(soonest, breaker_soonest)
            if soonest > remaining:
                msg = (
                    f"no capacity for {target.name!r} within the call's deadline "
                    f"(next slot in {soonest:.3f}s, {max(remaining, 0):.3f}s left)"
                )
                raise RateLimitError(msg, model=target.name, retry_after=soonest)
            await self.clock.sleep(soonest)
            waited += soonest

    def _take_now(  # noqa: PLR0917 - once per attempt on the hot path: positional is cheapest
        self,
        memory: MemoryBackend,
        runtime: DeploymentRuntime,
        key: Secret | None,
        fp: str | None,
        tokens_estimate: Callable[[], int],
        waited: float,
    ) -> Admitted | float:
        """:meth:`_take` on the in-process backend with the breaker closed (no coroutine)."""
        tracker = runtime.tracker
        buckets = tracker.buckets(fp)
        if buckets:
            tokens = tokens_estimate() if tracker.counts_tokens(fp) else 0
            self._members += 1
            member = f"{self._member_prefix}{self._members}"
        else:
            tokens, member = 0, ""  # nothing to hold: no slot needs a name
        wait = memory.acquire_now(buckets, member, tokens, runtime.id)
        if wait > 0:
            return wait
        admitted = Admitted(runtime, key, fp, buckets, member, tokens, waited)
        if fp is not None:
            admitted.key_stats = self._key_stats(runtime, fp)
        return admitted

    def _key_stats(self, runtime: DeploymentRuntime, fp: str) -> Counters:
        found = runtime.key_stats.get(fp)
        if found is None:
            found = runtime.key_stats[fp] = self.book.key(runtime.id, fp)
        return found

    async def _take(
        self,
        runtime: DeploymentRuntime,
        key: Secret | None,
        fp: str | None,
        *,
        tokens_estimate: Callable[[], int],
        state: BreakerState,
        waited: float,
    ) -> Admitted | float:
        """Take a slot on ``runtime`` (and a probe if half-open), or the seconds to wait."""
        buckets = runtime.tracker.buckets(fp)
        tokens = tokens_estimate() if runtime.tracker.counts_tokens(fp) else 0
        self._members += 1
        member = f"{self._member_prefix}{self._members}"
        if self.memory is not None:
            wait = self.memory.acquire_now(buckets, member, tokens, runtime.id)
        else:
            wait = await self._acquire_shared(buckets, member, tokens, runtime.id)
        if wait > 0:
            return wait
        admitted = Admitted(runtime, key, fp, buckets, member, tokens, waited)
        if fp is not None:
            admitted.key_stats = self._key_stats(runtime, fp)
        if state == "half-open":
            try:
                allowed = await self.breaker.allow(runtime.id)
            except BaseException:
                await shielded(self._give_back(admitted, probe_taken=None))
                raise
            if not allowed:
                await self.backend.release(buckets, member, -tokens, used=False)
                return 0.01
            admitted.probe = True
        return admitted

    async def _acquire_shared(
        self, buckets: tuple[Bucket, ...], member: str, tokens: int, cooldown_key: str
    ) -> float:
        try:
            return await self.backend.acquire(buckets, member, tokens, cooldown_key)
        except BaseException:
            # Cancelled (or failed) while the shared backend may have admitted us: free it.
            await shielded(self.backend.release(buckets, member, 0, used=False))
            raise

    async def _give_back(self, admitted: Admitted, *, probe_taken: bool | None) -> None:
        await self.backend.release(admitted.buckets, admitted.member, -admitted.tokens, used=False)
        if probe_taken or probe_taken is None:
            await self.breaker.abandon(admitted.runtime.id)

    async def abandon(self, admitted: Admitted) -> None:
        """Give back what a call that ended without an outcome (cancelled) holds.

        The request may have reached the provider, so its rate-limit slot is re-stamped as
        used (never overshooting the provider's window) and its token estimate kept; a
        half-open probe slot is given back so the breaker can probe again.
        """
        if admitted.buckets:
            await self.backend.release(admitted.buckets, admitted.member, 0, used=True)
        if admitted.probe:
            await self.breaker.abandon(admitted.runtime.id)

    def settle_now(
        self,
        admitted: Admitted,
        latency: float,
        headers: Mapping[str, str],
        usage: Usage | None,
        cost: Any,
    ) -> bool:
        """:meth:`settle` of a success, without a coroutine, when nothing needs I/O.

        That is the in-process backend with no breaker record to write. Returns whether
        it settled; if not, nothing was done and :meth:`settle` must be awaited.
        """
        memory = self.memory
        runtime = admitted.runtime
        if memory is None or admitted.probe or runtime.id in self._breaker_dirty:
            return False
        if admitted.buckets:
            delta = 0
            if usage is not None and admitted.tokens:
                delta = usage.input_tokens + usage.output_tokens - admitted.tokens
            memory.release_now(admitted.buckets, admitted.member, delta, used=True)
        if headers:
            for bucket, remaining, reset in runtime.tracker.observe(headers, admitted.fp):
                memory.sync_now(bucket, remaining, reset)
        _count_success(runtime.stats, admitted.key_stats, latency, usage, cost)
        return True

    async def settle(
        self,
        admitted: Admitted,
        error: LmuxError | None,
        latency: float,
        *,
        headers: Mapping[str, str],
        usage: Usage | None,
        cost: Any,
    ) -> None:
        """Release the admission and record the outcome (limits, breaker, keys, stats)."""
        runtime = admitted.runtime
        backend = self.backend
        delta = 0
        if usage is not None and admitted.tokens:
            delta = usage.input_tokens + usage.output_tokens - admitted.tokens
        # A call refused before any I/O (bad input, capability) used no quota.
        sent = error is None or error.status_code is not None or error.retryable
        if admitted.buckets:
            if self.memory is not None:
                self.memory.release_now(admitted.buckets, admitted.member, delta, used=sent)
            else:
                await backend.release(admitted.buckets, admitted.member, delta, used=sent)
        if headers:
            for bucket, remaining, reset in runtime.tracker.observe(headers, admitted.fp):
                await backend.sync(bucket, remaining, reset)
        stats = runtime.stats
        fp = admitted.fp
        key_stats = admitted.key_stats
        if error is None:
            _count_success(stats, key_stats, latency, usage, cost)
            # Only a breaker this process saw fail needs a write (healthy path: no I/O).
            if admitted.probe or runtime.id in self._breaker_dirty:
                self._breaker_dirty.discard(runtime.id)
                self.breaker_seen[runtime.id] = await self.breaker.record(runtime.id, failed=False)
            return
        if isinstance(error, RateLimitError):
            stats.rate_limited += 1
            if key_stats is not None:
                key_stats.rate_limited += 1
            if runtime.keys is not None and fp is not None and runtime.keys.alive > 1:
                runtime.keys.rotate(fp)
                log.info("deployment %s: key %s rate limited; rotating keys", runtime.id, fp)
            else:
                await self._cool_down(runtime, error)
        else:
            stats.failures += 1
            if key_stats is not None:
                key_stats.failures += 1
            if error.retry_after is not None:
                await self._cool_down(runtime, error)
        if (
            isinstance(error, AuthenticationError)
            and error.status_code in (401, 403)
            and runtime.keys is not None
            and fp is not None
        ):
            await runtime.keys.evict(fp, backend)
        # Quota refusals are handled by cooldowns; only other retryable failures say the
        # endpoint is unhealthy. 400/401/403/404 are not retryable: they never trip it.
        failed = error.retryable and not isinstance(error, RateLimitError)
        if failed or admitted.probe:
            self._breaker_dirty.add(runtime.id)
            self.breaker_seen[runtime.id] = await self.breaker.record(runtime.id, failed=failed)

    async def _cool_down(self, runtime: DeploymentRuntime, error: LmuxError) -> None:
        seconds = clamp_delay(error.retry_after, self.retry_after_cap)
        if seconds:
            log.info(
                "deployment %s cools down for %.3fs (%s)",
                runtime.id,
                seconds,
                type(error).__name__,
            )
            await self.backend.block(runtime.id, seconds)


def _count_success(
    stats: Counters, key_stats: Counters | None, latency: float, usage: Usage | None, cost: Any
) -> None:
    """Count a success on the deployment's counters and on its key's (if a pool key)."""
    for counters in (stats, key_stats):
        if counters is None:
            break
        counters.successes += 1
        counters.latencies.append(latency)
        previous = counters.ewma_latency
        counters.ewma_latency = 0.8 * previous + 0.2 * latency if previous else latency
        if usage is not None:
            counters.input_tokens += usage.input_tokens
            counters.output_tokens += usage.output_tokens
        if cost is not None:
            counters.cost += cost.total
