"""The exception tree. Every failure a user sees is one of these.

::

    LmuxError(.provider .model .status_code .request_id .retryable .retry_after)
    ├── AuthenticationError          401/403, missing key (names the env vars)
    ├── RateLimitError                429, quota exhausted (.retry_after)
    ├── InvalidRequestError          400, 409, 413, 422, bad input found before I/O
    │   ├── ContextLengthExceededError
    │   └── ContentFilterError
    ├── NotFoundError                404, unknown model or provider prefix
    ├── ProviderError                5xx, 529 overloaded, malformed or truncated responses,
    │   │                            connection failures
    │   └── PluginError              a plugin let a foreign exception escape (plugin bug)
    ├── TimeoutError                 408 and client-side timeouts (also a builtin TimeoutError)
    └── UnsupportedFeatureError      capability not declared (raised before any I/O)

Plugins map foreign exceptions at one boundary (:mod:`lmux_plug.http`), so a user never
sees a raw transport, ``json`` or ``KeyError`` exception.

Every error removes the configured secrets (each :class:`lmux_plug.Secret` ever built) from
its message, body and headers when it is built, and again from ``str``, ``repr`` and pickles:
an upstream that echoes the key it was sent cannot make it appear in a traceback or a log.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping

from lmux_plug._secrets import scrub
from lmux_plug._secrets import scrub_value

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "InvalidRequestError",
    "LmuxError",
    "NotFoundError",
    "PluginError",
    "ProviderError",
    "RateLimitError",
    "ResponseTooLargeError",
    "TimeoutError",
    "UnsupportedFeatureError",
]


class LmuxError(Exception):
    """Base of every lmux-plug error; context is keyword-only and may be ``None``."""

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = None if request_id is None else scrub(request_id)
        self.retryable = self.default_retryable if retryable is None else retryable
        # The provider's error body, truncated and scrubbed of every known secret.
        self.body = None if body is None else scrub(body)
        # Seconds the provider asked us to wait (Retry-After); any retryable error may carry it.
        self.retry_after = retry_after
        # The error response's headers (lower-case names), so a router can re-sync its
        # rate-limit buckets from ``x-ratelimit-*`` even when the call failed.
        self.headers: Mapping[str, str] = (
            {name: scrub(value) for name, value in headers.items()} if headers else {}
        )

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("model", self.model),
                ("status", self.status_code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        text = f"{self.message} ({', '.join(context)})" if context else self.message
        # Attributes may be set after construction (a router adds context): scrub again.
        return scrub(text)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword context across pickling (multiprocessing, batch workers).
        state = {name: scrub_value(value) for name, value in self.__dict__.items()}
        return (_rebuild, (type(self), scrub(self.message), state))


def _rebuild(cls: type[LmuxError], message: str, state: dict[str, object]) -> LmuxError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigurationError(LmuxError):
    """The library or a plugin is set up wrongly (bad spec, bad config file, bad model string)."""


class AuthenticationError(LmuxError):
    """Missing, invalid or revoked credentials."""


class RateLimitError(LmuxError):
    """The provider (or a client-side limit) refused the call for now."""

    default_retryable = True


class InvalidRequestError(LmuxError):
    """The request is wrong; sending it again will not help."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt (plus ``max_tokens``) does not fit the model's context window."""


class ContentFilterError(InvalidRequestError):
    """The provider's safety system refused the prompt."""


class NotFoundError(LmuxError):
    """Unknown model, provider prefix or endpoint."""


class ProviderError(LmuxError):
    """The provider failed: 5xx, overloaded, malformed or truncated answer, connection lost."""

    default_retryable = True


class ResponseTooLargeError(ProviderError):
    """The answer (as received, or once decompressed) passed the transport's size limit.

    The limits are ``Transport(max_response_bytes=..., max_decompressed_bytes=...)``; the
    same answer would pass them again, so it is not retried.
    """

    default_retryable = False


class PluginError(ProviderError):
    """A plugin let a foreign exception escape (a bug in that plugin); ``__cause__`` has it."""

    default_retryable = False


class TimeoutError(LmuxError, builtins.TimeoutError):  # noqa: A001 - lmux's public name
    """The call took longer than its timeout."""

    default_retryable = True


class UnsupportedFeatureError(LmuxError):
    """The provider or model does not declare the capability the call needs."""
