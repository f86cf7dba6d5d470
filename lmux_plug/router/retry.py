"""Retry policy: which errors are retried, how long to wait, and the record of attempts."""

from __future__ import annotations

import random

import attrs

from lmux_plug.errors import LmuxError

__all__ = ["Attempt", "backoff", "retry_wait"]


@attrs.frozen
class Attempt:
    """One try of a call: where it went, how it ended, and the wait that preceded it.

    ``key`` is a short fingerprint of the API key used (never the key); ``error`` is
    ``None`` for the attempt that succeeded.
    """

    deployment: str
    error: LmuxError | None = None
    wait: float = 0.0
    latency: float = 0.0
    key: str | None = None


def backoff(retry: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**retry)]``."""
    ceiling = min(cap, base * (2.0 ** min(retry, 30)))
    return (rng or random).uniform(0.0, ceiling)


def retry_wait(
    error: LmuxError, retry: int, *, base: float, cap: float, retry_after_cap: float
) -> float:
    """Seconds to wait before retrying after ``error``.

    The provider's ``Retry-After`` (``retry-after-ms``, ``x-ratelimit-reset-*``, parsed by
    the core into ``error.retry_after``) wins, capped at ``retry_after_cap``; otherwise
    jittered exponential backoff.
    """
    if error.retry_after is not None:
        return min(max(error.retry_after, 0.0), retry_after_cap)
    return backoff(retry, base, cap)
