"""The resilience engine: one implementation of retries, waits, timeouts and limits.

Used by the router, the batch engine, the drop-in client and the gateway:

* :mod:`~lmux_plug.resilience.retry_after`: ``Retry-After`` / reset parsing (finite, clamped);
* :mod:`~lmux_plug.resilience.backoff`: full-jitter exponential backoff;
* :mod:`~lmux_plug.resilience.decision`: the pure decision after a failure
  (retry / next model / fallback / stop, and the wait);
* :mod:`~lmux_plug.resilience.timeouts`: per-attempt timeouts;
* :mod:`~lmux_plug.resilience.tokens`: token estimation for token-rate limits;
* :mod:`~lmux_plug.resilience.limiter`: a waiting limiter over the state backend's buckets;
* :mod:`~lmux_plug.resilience.retrying`: the retry loop for clients without a router;
* :mod:`~lmux_plug.resilience.clock`: the injectable clock and the shipped test mode
  (``set_testing(True, attempts=1)``: no real sleeping, bounded attempts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug.lazy import lazy_exports

# Eager, because the function ``backoff`` shares its name with its module: once the module
# is imported the package attribute would otherwise be the module, not the function.
from lmux_plug.resilience.backoff import backoff
from lmux_plug.resilience.backoff import retry_wait

if TYPE_CHECKING:
    from lmux_plug.resilience.clock import SYSTEM_CLOCK
    from lmux_plug.resilience.clock import Clock
    from lmux_plug.resilience.clock import ManualClock
    from lmux_plug.resilience.clock import SystemClock
    from lmux_plug.resilience.clock import engine_test_mode
    from lmux_plug.resilience.clock import is_testing
    from lmux_plug.resilience.clock import set_testing
    from lmux_plug.resilience.clock import testing_attempts
    from lmux_plug.resilience.decision import Decision
    from lmux_plug.resilience.decision import RetryPolicy
    from lmux_plug.resilience.decision import decide
    from lmux_plug.resilience.limiter import Limiter
    from lmux_plug.resilience.limiter import Permit
    from lmux_plug.resilience.retry_after import MAX_RETRY_AFTER
    from lmux_plug.resilience.retry_after import clamp_delay
    from lmux_plug.resilience.retry_after import parse_duration
    from lmux_plug.resilience.retry_after import retry_after_from
    from lmux_plug.resilience.retrying import call_with_retries
    from lmux_plug.resilience.tokens import DEFAULT_OUTPUT_TOKENS
    from lmux_plug.resilience.tokens import estimate_tokens

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "MAX_RETRY_AFTER",
    "SYSTEM_CLOCK",
    "Clock",
    "Decision",
    "Limiter",
    "ManualClock",
    "Permit",
    "RetryPolicy",
    "SystemClock",
    "backoff",
    "call_with_retries",
    "clamp_delay",
    "decide",
    "engine_test_mode",
    "estimate_tokens",
    "is_testing",
    "parse_duration",
    "retry_after_from",
    "retry_wait",
    "set_testing",
    "testing_attempts",
]

# Every name loads its module on first use: the transport's error mapping imports
# ``retry_after`` at ``import lmux_plug`` time, and must not pull in the rest (asyncio, random).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SYSTEM_CLOCK": ".clock",
        "Clock": ".clock",
        "ManualClock": ".clock",
        "SystemClock": ".clock",
        "engine_test_mode": ".clock",
        "is_testing": ".clock",
        "set_testing": ".clock",
        "testing_attempts": ".clock",
        "Decision": ".decision",
        "RetryPolicy": ".decision",
        "decide": ".decision",
        "Limiter": ".limiter",
        "Permit": ".limiter",
        "MAX_RETRY_AFTER": ".retry_after",
        "clamp_delay": ".retry_after",
        "parse_duration": ".retry_after",
        "retry_after_from": ".retry_after",
        "call_with_retries": ".retrying",
        "DEFAULT_OUTPUT_TOKENS": ".tokens",
        "estimate_tokens": ".tokens",
    },
)
