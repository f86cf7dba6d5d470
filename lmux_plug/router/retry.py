"""The record of attempts (the retry policy itself is :mod:`lmux_plug.resilience`)."""

from __future__ import annotations

import attrs

from lmux_plug.errors import LmuxError
from lmux_plug.resilience.backoff import backoff
from lmux_plug.resilience.backoff import retry_wait

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
