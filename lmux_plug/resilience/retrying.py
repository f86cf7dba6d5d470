"""The retry loop for a client without a router (the drop-in client over a registry).

Each model of ``models`` is tried up to ``policy.retries + 1`` times; after each failure
:func:`~lmux_plug.resilience.decision.decide` says whether to wait and retry, move to the
next model, or stop. Waits go through the engine's clock (instant in test mode) and never
pass ``deadline`` seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TypeVar

import attrs

from lmux_plug._secrets import scrubbed_logger
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock
from lmux_plug.resilience.clock import testing_attempts
from lmux_plug.resilience.decision import RetryPolicy
from lmux_plug.resilience.decision import decide

__all__ = ["call_with_retries"]

T = TypeVar("T")
log = scrubbed_logger("lmux_plug.retry")


async def call_with_retries(
    models: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    *,
    policy: RetryPolicy,
    deadline: float | None = None,
    clock: Clock | None = None,
) -> tuple[T, str]:
    """``(answer, model that answered)`` from the first model of ``models`` that answers."""
    clock = clock or SYSTEM_CLOCK
    cap = testing_attempts()
    if cap is not None and policy.retries > cap - 1:
        policy = attrs.evolve(policy, retries=cap - 1)
    deadline_at = None if deadline is None else clock.monotonic() + deadline
    chain = list(models)
    last: LmuxError | None = None
    position = 0
    while position < len(chain):
        model = chain[position]
        position += 1
        retry = 0
        while True:
            try:
                return await call(model), model
            except LmuxError as exc:
                last = exc
                remaining = float("inf") if deadline_at is None else deadline_at - clock.monotonic()
                decision = decide(exc, retry=retry, policy=policy, remaining=remaining)
            if decision.action == "stop":
                raise last
            if decision.action == "fallback":
                chain[position:position] = list(decision.insert)
                break
            if decision.action == "next":
                if position < len(chain):
                    log.info(
                        "falling back from %s to %s: %s", model, chain[position], decision.reason
                    )
                break
            retry += 1
            log.info(
                "retrying %s in %.3fs (retry %d): %s",
                model,
                decision.delay,
                retry,
                type(last).__name__,
            )
            if decision.delay:
                await clock.sleep(decision.delay)
    if last is None:
        msg = "no model to call"
        raise ProviderError(msg, retryable=False)
    raise last
