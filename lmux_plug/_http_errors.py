"""Map HTTP error responses to the :mod:`lmux_plug.errors` tree (the one boundary).

The mapping reads what every major provider puts in its error bodies (OpenAI-style
``{"error": {"message", "type", "code"}}``, Anthropic ``{"type": "error", "error": {...}}``,
Google ``{"error": {"code", "status", "details": [RetryInfo]}}``, Ollama ``{"error": "..."}``)
and the ``Retry-After`` family of headers (parsed by :mod:`lmux_plug.resilience.retry_after`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.errors import TimeoutError
from lmux_plug.resilience.retry_after import parse_duration
from lmux_plug.resilience.retry_after import retry_after_from

__all__ = ["error_from_response", "error_message_of", "parse_duration", "retry_after_from"]

MAX_BODY_IN_ERROR = 2000
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
