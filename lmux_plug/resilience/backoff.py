"""Backoff: full-jitter exponential waits, and the wait before a retry after an error."""

from __future__ import annotations

import random

from lmux_plug.errors import LmuxError
from lmux_plug.resilience.retry_after import clamp_delay

__all__ = ["backoff", "retry_wait"]


def backoff(retry: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**retry)]``.

    Full jitter keeps many clients that failed together from retrying in lockstep.
    """
    ceiling = min(cap, base * (2.0 ** min(retry, 30)))
    return (rng or random).uniform(0.0, ceiling)


def retry_wait(
    error: LmuxError,
    retry: int,
    *,
    base: float,
    cap: float,
    retry_after_cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retrying after ``error``.

    The provider's ``Retry-After`` (parsed by the core into ``error.retry_after``) wins,
    clamped to ``retry_after_cap``; otherwise jittered exponential backoff.
    """
    asked = clamp_delay(error.retry_after, retry_after_cap)
    if asked is not None:
        return asked
    return backoff(retry, base, cap, rng)
