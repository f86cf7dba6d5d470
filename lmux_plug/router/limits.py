"""Client-side rate limits: rpm, tpm, rpd and tpd buckets per deployment and per key.

Limits come from the configuration (:class:`~lmux_plug.router.config.Limits`) or are
learnt from the provider's rate-limit headers when not declared, and the buckets are
re-synced from those headers after every answer (OpenAI/Groq ``x-ratelimit-*`` with
``1m30s``-style resets; Anthropic ``anthropic-ratelimit-*`` with RFC 3339 resets). Token
use is estimated before a call (prompt size + ``max_tokens``) and reconciled with the
real usage afterwards.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from lmux_plug.resilience.retry_after import parse_duration
from lmux_plug.resilience.tokens import DEFAULT_OUTPUT_TOKENS
from lmux_plug.resilience.tokens import estimate_tokens
from lmux_plug.router.config import Limits
from lmux_plug.router.state import Bucket

__all__ = ["DEFAULT_OUTPUT_TOKENS", "LimitTracker", "estimate_tokens", "rate_limit_headers"]

_DAY_MINUTES = 1440.0


def _reset_seconds(value: str) -> float | None:
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:  # Anthropic: an RFC 3339 timestamp
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    try:
        return max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0)
    except OverflowError:
        return None


_HEADER_FAMILIES = tuple(
    (
        kind,
        (
            (
                f"x-ratelimit-limit-{kind}",
                f"x-ratelimit-remaining-{kind}",
                f"x-ratelimit-reset-{kind}",
            ),
            (
                f"anthropic-ratelimit-{kind}-limit",
                f"anthropic-ratelimit-{kind}-remaining",
                f"anthropic-ratelimit-{kind}-reset",
            ),
        ),
    )
    for kind in ("requests", "tokens")
)


# Without one of these an answer carries no rate-limit information (checked on every
# answer, in one set operation: most answers have none).
_REMAINING_HEADERS = frozenset(
    remaining for _, families in _HEADER_FAMILIES for _, remaining, _ in families
)


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, tuple[float | None, float, float]]:
    """``{"requests"|"tokens": (limit, remaining, reset_seconds)}`` from response headers."""
    found: dict[str, tuple[float | None, float, float]] = {}
    if _REMAINING_HEADERS.isdisjoint(headers):
        return found
    for kind, families in _HEADER_FAMILIES:
        for limit_h, remaining_h, reset_h in families:
            remaining = headers.get(remaining_h)
            if remaining is None:
                continue
            try:
                left = float(remaining)
                limit = float(headers[limit_h]) if limit_h in headers else None
            except ValueError:
                continue
            if not math.isfinite(left) or (limit is not None and not math.isfinite(limit)):
                continue  # a broken or hostile header must not poison the buckets
            reset = _reset_seconds(headers.get(reset_h, "")) if reset_h in headers else None
            found[kind] = (limit, left, 0.0 if reset is None else reset)
            break
    return found


class LimitTracker:
    """The buckets of one deployment: declared limits plus limits learnt from headers."""

    def __init__(
        self, deployment: str, limits: Limits, key_limits: Limits, *, learn: bool = True
    ) -> None:
        self.deployment = deployment
        self.limits = limits
        self.key_limits = key_limits
        self.learn = learn
        self.learned: dict[str, float] = {}
        self._cache: dict[str | None, tuple[Bucket, ...]] = {}
        self._tokens: dict[str | None, bool] = {}

    def _make(self, scope: str, limits: Limits, learned: Mapping[str, float]) -> list[Bucket]:
        minute = limits.minute
        out: list[Bucket] = []
        rpm = limits.rpm or learned.get("requests")
        if rpm:
            out.append(Bucket(f"{scope}:rpm", "requests", rpm, minute, burst=limits.burst or 0.0))
        tpm = limits.tpm or learned.get("tokens")
        if tpm:
            out.append(Bucket(f"{scope}:tpm", "tokens", tpm, minute, tpm * limits.token_burst))
        if limits.rpd:
            out.append(Bucket(f"{scope}:rpd", "requests", limits.rpd, minute * _DAY_MINUTES))
        if limits.tpd:
            out.append(Bucket(f"{scope}:tpd", "tokens", limits.tpd, minute * _DAY_MINUTES))
        return out

    def buckets(self, key: str | None) -> tuple[Bucket, ...]:
        """Every bucket a call with key fingerprint ``key`` must be admitted against."""
        cached = self._cache.get(key)
        if cached is None:
            found = self._make(self.deployment, self.limits, self.learned)
            if key is not None and self.key_limits.any:
                found += self._make(f"{self.deployment}#{key}", self.key_limits, {})
            cached = self._cache[key] = tuple(found)
        return cached

    def counts_tokens(self, key: str | None) -> bool:
        """Whether a call with key ``key`` needs a token estimate (a tokens bucket applies)."""
        found = self._tokens.get(key)
        if found is None:
            found = self._tokens[key] = any(b.kind == "tokens" for b in self.buckets(key))
        return found

    def observe(
        self, headers: Mapping[str, str], key: str | None
    ) -> list[tuple[Bucket, float, float]]:
        """Learn limits from ``headers``; return ``(bucket, remaining, reset)`` to re-sync."""
        seen = rate_limit_headers(headers)
        if not seen:
            return []
        if self.learn:
            for kind, (limit, _, _) in seen.items():
                if limit and self.learned.get(kind) != limit:
                    self.learned[kind] = limit
                    self._cache.clear()
                    self._tokens.clear()
        syncs = []
        by_suffix = {"requests": ":rpm", "tokens": ":tpm"}
        for bucket in self.buckets(key):
            for kind, (_, remaining, reset) in seen.items():
                if bucket.key == self.deployment + by_suffix[kind]:
                    syncs.append((bucket, remaining, reset))
        return syncs

    def describe(self) -> dict[str, float]:
        """The limits in force (declared or learnt), for stats."""
        out: dict[str, float] = {}
        for bucket in self.buckets(None):
            out[bucket.key.rsplit(":", 1)[1]] = bucket.limit
        return out
