"""The attempt loop: walk a call's chain of models, one admitted attempt at a time.

For each model of the chain (the requested one, its fallbacks, and models inserted by a
context-length or content-filter fallback) the loop admits an attempt
(:mod:`~lmux_plug.router.admission`), runs it under its per-attempt timeout, settles it in
``finally`` (so cancellation releases everything it held), and asks the pure
:func:`~lmux_plug.resilience.decision.decide` what follows a failure. Every attempt is
recorded as an :class:`~lmux_plug.router.retry.Attempt`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Protocol
from typing import TypeVar

import attrs

from lmux_plug._secrets import scrubbed_logger
from lmux_plug._types import Usage
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.resilience.cancel import shielded
from lmux_plug.resilience.clock import Clock
from lmux_plug.resilience.clock import testing_attempts
from lmux_plug.resilience.decision import RetryPolicy
from lmux_plug.resilience.decision import decide
from lmux_plug.resilience.timeouts import CUT_IN_TASK
from lmux_plug.resilience.timeouts import arm
from lmux_plug.resilience.timeouts import attempt_timeout_error
from lmux_plug.resilience.timeouts import cut
from lmux_plug.resilience.timeouts import disarm
from lmux_plug.resilience.timeouts import within
from lmux_plug.router.admission import Admission
from lmux_plug.router.admission import Admitted
from lmux_plug.router.plan import CallOptions
from lmux_plug.router.plan import Plan
from lmux_plug.router.retry import Attempt

__all__ = ["AttemptCall", "Settled", "run_attempts"]

log = scrubbed_logger("lmux_plug.router")
T = TypeVar("T", bound="Settled")


class Settled(Protocol):
    """What settling an attempt reads from its result (an answer has all three)."""

    @property
    def headers(self) -> Mapping[str, str]: ...  # noqa: D102

    @property
    def usage(self) -> Usage | None: ...  # noqa: D102

    @property
    def cost(self) -> Any: ...  # noqa: D102


AttemptCall = Callable[[Admitted, float], Awaitable[T]]
"""One attempt: ``call(admitted, timeout)`` -> the result (a plain function returning the
awaitable is cheapest: no coroutine frame of its own)."""


def _policy(base: RetryPolicy, options: CallOptions) -> RetryPolicy:
    """``base``, the model's or the router's policy, with the call's ``retries`` and the cap."""
    retries = base.retries if options.retries is None else options.retries
    cap = testing_attempts()
    if cap is not None:
        retries = min(retries, cap - 1)
    if retries == base.retries:
        return base
    return attrs.evolve(base, retries=retries)


async def run_attempts(  # noqa: PLR0917 - once per call: positional is cheapest
    plan: Plan,
    admission: Admission,
    clock: Clock,
    model: str,
    options: CallOptions,
    deadline_at: float,
    tokens_estimate: Callable[[], int],
    call: AttemptCall[T],
) -> tuple[T, tuple[Attempt, ...]]:
    """Run ``call`` until an attempt succeeds; raise the last error (with ``.attempts``).

    Returns the result and the record of every attempt. This runs on every routed call:
    the attempt is awaited in this frame (no wrapper coroutine per attempt), and the
    in-process backend admits and settles without coroutines.
    """
    config = plan.config
    custom = options.retries is not None or testing_attempts() is not None
    first = plan.target(model)
    fallbacks = options.fallbacks if options.fallbacks is not None else first.fallbacks
    chain = [model, *fallbacks] if fallbacks else [model]
    attempts: list[Attempt] = []
    last: LmuxError | None = None
    position = 0
    visited: set[str] = set()
    failed: set[str] | None = None  # deployments that failed this call: retried last
    backoff_wait = 0.0
    while position < len(chain):
        name = chain[position]
        position += 1
        if name in visited:
            continue
        visited.add(name)
        target = first if position == 1 else plan.target(name)
        policy = target.policy or plan.policy
        if custom:
            policy = _policy(policy, options)
        retry = 0
        while retry <= policy.retries:
            if backoff_wait:
                await clock.sleep(backoff_wait)
            try:
                admitted = await admission.admit(
                    target, tokens_estimate, options, deadline_at, failed
                )
            except LmuxError as exc:
                attempts.append(Attempt(target.name, exc, backoff_wait))
                last = exc
                backoff_wait = 0.0
                if position < len(chain):  # nothing of this model can serve it: the next one
                    log.info(
                        "falling back from %s to %s: %s: %s",
                        target.name,
                        chain[position],
                        type(exc).__name__,
                        exc,
                    )
                break
            wait = backoff_wait + admitted.wait
            backoff_wait = 0.0
            runtime = admitted.runtime
            stats = runtime.stats
            stats.requests += 1
            if admitted.key_stats is not None:
                admitted.key_stats.requests += 1
            if retry:
                stats.retries += 1
            start = clock.monotonic()
            remaining = deadline_at - start
            limit = options.attempt_timeout or runtime.attempt_timeout or config.attempt_timeout
            timeout = remaining if limit is None else min(limit, remaining)
            failure: LmuxError | None = None
            stats.inflight += 1
            seconds = max(timeout, 0.001)
            try:
                # One timer bounds the attempt: its own timeout or what is left of the deadline.
                if CUT_IN_TASK:
                    expiry = arm(seconds)
                    try:
                        result = await call(admitted, timeout)
                    finally:
                        disarm(expiry)
                else:  # pragma: no cover - Python 3.10
                    result = await within(
                        call(admitted, timeout),
                        seconds,
                        model=runtime.model,
                        what=_limit_name(limit, remaining),
                    )
            except LmuxError as exc:
                failure = exc
            except BaseException as exc:
                if CUT_IN_TASK and isinstance(exc, asyncio.CancelledError) and cut(expiry):
                    failure = attempt_timeout_error(
                        seconds, model=runtime.model, what=_limit_name(limit, remaining)
                    )
                else:
                    # Cancelled (or a bug): no outcome, but nothing may stay held.
                    stats.inflight -= 1
                    await shielded(admission.abandon(admitted))
                    raise
            stats.inflight -= 1
            latency = clock.monotonic() - start
            if failure is None:
                headers, usage, cost = result.headers, result.usage, result.cost
                if not admission.settle_now(admitted, latency, headers, usage, cost):
                    settle = admission.settle(
                        admitted, None, latency, headers=headers, usage=usage, cost=cost
                    )
                    if admission.shared:
                        await shielded(settle)
                    else:
                        await settle
                done = Attempt(runtime.id, None, wait, latency, admitted.fp)
                return result, (*attempts, done) if attempts else (done,)
            settle = admission.settle(
                admitted, failure, latency, headers=failure.headers, usage=None, cost=None
            )
            if admission.shared:
                await shielded(settle)
            else:
                await settle
            attempts.append(Attempt(runtime.id, failure, wait, latency, admitted.fp))
            last = failure
            if failed is None:
                failed = set()
            failed.add(runtime.id)
            decision = decide(
                failure,
                retry=retry,
                policy=policy,
                remaining=deadline_at - clock.monotonic(),
                other_keys=runtime.keys is not None and runtime.keys.alive > 0,
                context_fallbacks=_context_fallbacks(target.model, options),
                content_filter_fallbacks=_filter_fallbacks(target.model, options),
            )
            if decision.action == "retry":
                retry += 1
                backoff_wait = decision.delay
                log.info(
                    "retrying %s after %s on %s (retry %d, wait %.3fs)",
                    target.name,
                    type(failure).__name__,
                    runtime.id,
                    retry,
                    decision.delay,
                )
                continue
            if decision.action == "stop":
                _attach(failure, attempts)
                raise failure
            if decision.action == "fallback":
                chain[position:position] = list(decision.insert)
            if position < len(chain):
                log.info(
                    "falling back from %s to %s: %s", target.name, chain[position], decision.reason
                )
            break
    if last is None:  # pragma: no cover - the chain always holds the model
        msg = f"no attempt could be made for {model!r}"
        raise ProviderError(msg, model=model)
    _attach(last, attempts)
    raise last


def _limit_name(limit: float | None, remaining: float) -> str:
    """Which limit an attempt's timer stands for, as the timeout error names it."""
    return "attempt" if limit is not None and limit <= remaining else "call deadline"


def _context_fallbacks(model: Any, options: CallOptions) -> tuple[str, ...] | list[str]:
    if options.context_fallbacks is not None:
        return list(options.context_fallbacks)
    return model.context_fallbacks if model is not None else ()


def _filter_fallbacks(model: Any, options: CallOptions) -> tuple[str, ...]:
    if not options.content_filter or model is None:
        return ()
    return tuple(model.content_filter_fallbacks)


def _attach(error: LmuxError, attempts: list[Attempt]) -> None:
    error.attempts = tuple(attempts)  # type: ignore[attr-defined]
