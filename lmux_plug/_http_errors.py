"""Map HTTP error responses to the :mod:`lmux_plug.errors` tree (the one boundary).

The mapping reads what every major provider puts in its error bodies (OpenAI-style
``{"error": {"message", "type", "code"}}``, Anthropic ``{"type": "error", "error": {...}}``,
Google ``{"error": {"code", "status", "details": [RetryInfo]}}``, Ollama ``{"error": "..."}``)
and the ``Retry-After`` family of headers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from lmux_plug.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    LmuxError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    TimeoutError,
)

__all__ = ["error_from_response", "error_message_of", "parse_duration", "retry_after_from"]

MAX_BODY_IN_ERROR = 2000
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|h|m|s))")
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the maximum number of tokens",
    # Perplexity: "... is too long" and the code too_many_prompt_tokens.
    "too_many_prompt_tokens",
    "too long",
)
# A bad key some providers answer with 400 (xAI: "Incorrect API key provided").
_AUTH_MARKERS = ("incorrect api key", "invalid api key", "invalid_api_key")
# OpenAI's 429 for a single request larger than the whole tokens-per-minute limit
# ("Request too large ... Requested 90000 > Limit 30000"): waiting never helps.
_TOO_LARGE_MARKERS = ("request too large",)
_FILTER_MARKERS = ("content_filter", "content_policy", "safety", "responsible ai policy")


def parse_duration(text: str) -> float | None:
    """Parse ``"1.5"``, ``"30s"``, ``"250ms"``, ``"1m30s"``, ``"2h0m5.3s"`` into seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    total = 0.0
    pos = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        value, unit = float(match.group(1)), match.group(2)
        total += value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = match.end()
    return total if pos == len(text) and pos else None


def _http_date_delay(text: str, now: float | None = None) -> float | None:
    import email.utils  # noqa: PLC0415 - rare path; keeps `import lmux_plug` fast

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def retry_after_from(
    headers: Mapping[str, str], body: Any = None, *, now: float | None = None
) -> float | None:
    """Seconds to wait before retrying, from headers (and Google's ``RetryInfo`` in the body).

    Reads ``retry-after-ms``, ``retry-after`` (seconds or an HTTP-date) and, failing those,
    the soonest ``x-ratelimit-reset-*`` among exhausted buckets.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if (ms := lower.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
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


def error_message_of(body: Any, fallback: str) -> tuple[str, str]:
    """Return ``(message, code)`` from a decoded error body of any known provider shape."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, str):
            return error, str(body.get("code") or body.get("type") or "")
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("detail") or body.get("message")
            code = error.get("code") or error.get("type") or error.get("status") or ""
            if message is None and isinstance(body.get("detail"), str):
                message = body["detail"]
            return str(message or fallback), str(code)
    if isinstance(body, list) and body:
        return error_message_of(body[0], fallback)
    return fallback, ""


def _decode(raw: bytes | str) -> Any:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    raw_body: bytes | str,
    *,
    provider: str | None,
    model: str | None = None,
    request_id: str | None = None,
    secrets: tuple[str, ...] = (),
) -> LmuxError:
    """Build the most specific :class:`LmuxError` for an HTTP error response.

    ``secrets`` are removed from the message and body: some servers echo the bad key.
    """
    body = _decode(raw_body)
    text = body if isinstance(body, str) else json.dumps(body)[:MAX_BODY_IN_ERROR]
    message, code = error_message_of(body, text[:300] or f"HTTP {status}")
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
            text = text.replace(secret, "[redacted]")
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = request_id or lower.get("x-request-id") or lower.get("request-id")
    if request_id is None and isinstance(body, Mapping) and isinstance(body.get("request_id"), str):
        # Anthropic repeats the id in its error bodies; some proxies strip the header.
        request_id = body["request_id"]
    context: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status_code": status,
        "request_id": request_id,
        "body": text[:MAX_BODY_IN_ERROR],
        "headers": lower,
    }
    should_retry = lower.get("x-should-retry")
    if should_retry in ("true", "false"):
        context["retryable"] = should_retry == "true"
    haystack = f"{code} {_error_type(body)} {message}".lower()
    cls = _class_for(status, haystack)
    if status == 429 and any(marker in haystack for marker in _TOO_LARGE_MARKERS):
        context["retryable"] = False
    if cls is InvalidRequestError and status == 409:
        # A conflict is transient (e.g. a concurrent update); sending again is the fix.
        context.setdefault("retryable", True)
    if cls.default_retryable or context.get("retryable"):
        context["retry_after"] = retry_after_from(headers, body)
    return cls(message, **context)


def _error_type(body: Any) -> str:
    """The error object's ``type`` (Perplexity puts its reason there when ``code`` is numeric)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    return kind if isinstance(kind, str) else ""


def _class_for(status: int, haystack: str) -> type[LmuxError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        if "overloaded" in haystack:
            return ProviderError
        return RateLimitError
    if status == 404:
        return NotFoundError
    if status == 408:
        return TimeoutError
    if status in (400, 409, 413, 422) or 400 <= status < 500:
        if status == 400 and any(marker in haystack for marker in _AUTH_MARKERS):
            return AuthenticationError
        if any(marker in haystack for marker in _CONTEXT_MARKERS):
            return ContextLengthExceededError
        if any(marker in haystack for marker in _FILTER_MARKERS):
            return ContentFilterError
        return InvalidRequestError
    return ProviderError
