"""``Retry-After`` and reset durations: the one parser every layer uses.

Reads ``retry-after-ms``, ``retry-after`` (delay-seconds or an HTTP-date), Google's
``RetryInfo.retryDelay`` in an error body and, failing those, the soonest
``x-ratelimit-reset-*`` of an exhausted bucket. Every value is finite and within
``[0, MAX_RETRY_AFTER]``: ``inf``, ``nan``, negative numbers and garbage are ignored
(as if the header were absent), and huge values are clamped, so a hostile or broken
upstream can neither crash a caller nor park it forever.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_RETRY_AFTER", "clamp_delay", "parse_duration", "retry_after_from"]

MAX_RETRY_AFTER = 3600.0
"""The longest delay any header can ask for; callers clamp further (the router's cap)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_INF = float("inf")


def clamp_delay(seconds: float | None, cap: float = MAX_RETRY_AFTER) -> float | None:
    """``seconds`` if it is a finite, non-negative number, clamped to ``cap``; else ``None``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def parse_duration(text: str) -> float | None:
    """Parse ``"1.5"``, ``"30s"``, ``"250ms"``, ``"1m30s"``, ``"2h0m5.3s"`` into seconds.

    ``None`` for anything else, including ``inf``, ``nan`` and negative numbers. Not
    clamped (a daily quota resets in hours); :func:`retry_after_from` clamps.
    """
    text = text.strip()
    if not text:
        return None
    try:
        return clamp_delay(float(text), _INF)
    except ValueError:
        pass
    total = 0.0
    pos = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return clamp_delay(total, _INF) if pos == len(text) and pos else None


def _http_date_delay(text: str, now: float | None) -> float | None:
    import email.utils  # noqa: PLC0415 - rare path; keeps `import lmux_plug` fast
    import time  # noqa: PLC0415

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    current = time.time() if now is None else now
    return clamp_delay(max(when.timestamp() - current, 0.0))


def _retry_delay_in_body(body: Any) -> float | None:
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    details = error.get("details") if isinstance(error, Mapping) else None
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, Mapping) and isinstance(detail.get("retryDelay"), str):
            return parse_duration(detail["retryDelay"])
    return None


def retry_after_from(
    headers: Mapping[str, str], body: Any = None, *, now: float | None = None
) -> float | None:
    """Seconds to wait before retrying, from headers (and Google's ``RetryInfo`` in the body).

    ``now`` (epoch seconds) is for HTTP-dates; ``None`` when nothing usable is given.
    The result is finite and at most :data:`MAX_RETRY_AFTER`.
    """
    seconds = _retry_after(headers, body, now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def _retry_after(headers: Mapping[str, str], body: Any, now: float | None) -> float | None:
    lower = {k.lower(): v for k, v in headers.items()}
    if (ms := lower.get("retry-after-ms")) is not None:
        try:
            seconds = clamp_delay(float(ms) / 1000.0)
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
    if (value := lower.get("retry-after")) is not None:
        seconds = parse_duration(value)
        if seconds is None:
            seconds = _http_date_delay(value, now)
        if seconds is not None:
            return seconds
    delay = _retry_delay_in_body(body)
    if delay is not None:
        return delay
    for bucket in ("requests", "tokens"):
        if lower.get(f"x-ratelimit-remaining-{bucket}") == "0":
            reset = lower.get(f"x-ratelimit-reset-{bucket}")
            if reset is not None and (seconds := parse_duration(reset)) is not None:
                return seconds
    return None
