"""The pure decision: after a failed attempt, retry, move on, fall back, or stop, and when.

:func:`decide` reads only its arguments (no clock, no I/O; the random source for jitter is
passed in), so every branch of the retry policy is tested as a table of cases. The router
and the drop-in client's retry loop both act on its :class:`Decision`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

import attrs

from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.resilience.backoff import backoff
from lmux_plug.resilience.retry_after import clamp_delay

__all__ = ["Action", "Decision", "RetryPolicy", "decide"]

Action = Literal["retry", "next", "fallback", "stop"]
"""``retry`` the same model (another deployment or key may take it); ``next`` model of the
chain; ``fallback`` to the models in :attr:`Decision.insert` first; ``stop`` and raise."""


@attrs.frozen
class RetryPolicy:
    """How failures are retried.

    ``retries``: extra attempts per model; ``backoff_base`` / ``backoff_max``: the jittered
    exponential backoff; ``retry_after_cap``: the longest ``Retry-After`` honoured.
    ``wait_retry_after``: wait out ``Retry-After`` before retrying (the drop-in client);
    the router instead cools the deployment down and lets admission wait, so another
    deployment can take the retry at once. ``fall_through``: errors that say "this model
    cannot serve it" (the next model of the chain may).
    """

    retries: int = 2
    backoff_base: float = 0.05
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0
    wait_retry_after: bool = False
    fall_through: tuple[type[LmuxError], ...] = (AuthenticationError, NotFoundError)


@attrs.frozen
class Decision:
    """What to do after a failure: :data:`Action`, the wait first, and models to insert."""

    action: Action
    delay: float = 0.0
    insert: tuple[str, ...] = ()
    reason: str = ""


def decide(
    failure: LmuxError,
    *,
    retry: int,
    policy: RetryPolicy,
    remaining: float = float("inf"),
    other_keys: bool = False,
    context_fallbacks: Sequence[str] = (),
    content_filter_fallbacks: Sequence[str] = (),
    rng: random.Random | None = None,
) -> Decision:
    """Decide what follows ``failure`` on the ``retry``-th retry (0: the first attempt).

    ``remaining``: seconds left before the call's deadline; ``other_keys``: the
    deployment's key pool has another live key (a 401/403 may be the key's fault);
    ``context_fallbacks`` / ``content_filter_fallbacks``: the models to try when the prompt
    is too long / was filtered (empty: none configured or not enabled).
    """
    if isinstance(failure, ContextLengthExceededError):
        if context_fallbacks:
            return Decision("fallback", insert=tuple(context_fallbacks), reason="context length")
        return Decision("stop", reason="context length, no larger model configured")
    if isinstance(failure, ContentFilterError):
        if content_filter_fallbacks:
            return Decision(
                "fallback", insert=tuple(content_filter_fallbacks), reason="content filter"
            )
        return Decision("stop", reason="content filter")
    if isinstance(failure, AuthenticationError) and other_keys:
        return Decision("retry", reason="key rejected, another key of the pool may work")
    if isinstance(failure, policy.fall_through):
        return Decision("next", reason=f"{type(failure).__name__}: this model cannot serve it")
    if not failure.retryable:
        return Decision("stop", reason="not retryable")
    if retry >= policy.retries:
        return Decision("next", reason="retries exhausted")
    asked = clamp_delay(failure.retry_after, policy.retry_after_cap)
    if asked is not None:
        delay = asked if policy.wait_retry_after else 0.0
    else:
        delay = backoff(retry, policy.backoff_base, policy.backoff_max, rng)
    if delay > remaining:
        return Decision("next", reason="the wait would pass the deadline")
    return Decision("retry", delay, reason="retryable")
