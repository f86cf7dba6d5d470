"""OpenAI-format error bodies and the LmuxError -> HTTP status mapping of the gateway.

Every error leaves the gateway as ``{"error": {"message", "type", "param", "code"}}`` with
the status the ``openai`` SDK maps to its own exception classes:

============================  ======  ==========================  ============================
lmux-plug error               status  type                        openai SDK raises
============================  ======  ==========================  ============================
InvalidRequestError (+subs)   400     invalid_request_error       BadRequestError
UnsupportedFeatureError       400     invalid_request_error       BadRequestError
AuthenticationError           401     authentication_error        AuthenticationError
  (provider said 403)         403     permission_error            PermissionDeniedError
NotFoundError                 404     not_found_error             NotFoundError
TimeoutError                  408     timeout_error               APIStatusError
RateLimitError                429     rate_limit_error            RateLimitError
PluginError, other errors     500     server_error                InternalServerError
ProviderError                 502     upstream_error              InternalServerError
ProviderError 503/529         503     service_unavailable         InternalServerError
============================  ======  ==========================  ============================

Messages are scrubbed of secrets (the gateway's provider keys, anything shaped like an API
key) and an upstream authentication failure is reported without the provider's text, which
may quote part of the key. No traceback is ever put in a body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from lmux_plug._secrets import StreamScrubber
from lmux_plug._secrets import known_secrets
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import PluginError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.errors import TimeoutError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.params import InvalidParameterError
from lmux_plug.resilience.retry_after import clamp_delay

__all__ = ["GatewayError", "Scrubber", "error_json", "error_status", "from_lmux"]

# Shapes of API keys and bearer tokens; replaced even when the gateway does not know them.
_KEY_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-*.]{6,}|(?i:bearer)\s+[A-Za-z0-9_\-.=]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,})"
)
_MAX_MESSAGE = 1000


class Scrubber:
    """Removes known secrets and key-shaped strings from text sent to a client.

    The secrets are the gateway's own (``secrets``, :meth:`add`) and every secret the
    process remembers (:func:`lmux_plug._secrets.known_secrets`: keys from the environment,
    auth hooks, router pools), as they are at each call.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._own = {s for s in secrets if s and len(s) >= 4}
        self._known: tuple[str, ...] | None = None
        self._secrets: list[str] = []
        self._encoded: list[bytes] = []

    def add(self, secret: str) -> None:
        """Also remove ``secret`` from now on."""
        if secret and len(secret) >= 4 and secret not in self._own:
            self._own.add(secret)
            self._known = None

    def secrets(self) -> list[str]:
        """Every secret to remove, longest first (a key that contains another goes whole)."""
        known = known_secrets()
        if known is not self._known:
            self._known = known
            self._secrets = sorted(self._own.union(known), key=len, reverse=True)
            self._encoded = [s.encode("utf-8", "surrogatepass") for s in self._secrets]
        return self._secrets

    def remove(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***`` (nothing else changed)."""
        for secret in self.secrets():
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def remove_bytes(self, data: bytes) -> bytes:
        """:meth:`remove` for an encoded (UTF-8) response body."""
        self.secrets()
        for secret in self._encoded:
            if secret in data:
                data = data.replace(secret, b"***")
        return data

    def stream(self) -> StreamScrubber:
        """A scrubber for text sent in pieces (a stream's deltas): see :class:`StreamScrubber`."""
        return StreamScrubber(self._own, replacement="***")

    def __call__(self, text: str) -> str:
        """Return ``text`` with secrets replaced by ``***``, cut to a sane length."""
        text = _KEY_SHAPES.sub("***", self.remove(text))
        return text[:_MAX_MESSAGE]


class GatewayError(Exception):
    """An error the gateway itself raises (bad input, keys, limits), already HTTP-shaped."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})


def error_json(
    message: str,
    *,
    type: str,  # noqa: A002 - OpenAI's field name
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    """The OpenAI error body as JSON bytes."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return json.dumps(body).encode()


def error_status(exc: LmuxError) -> tuple[int, str, str | None]:
    """``(status, type, code)`` for a lmux-plug error."""
    if isinstance(exc, ContextLengthExceededError):
        return 400, "invalid_request_error", "context_length_exceeded"
    if isinstance(exc, ContentFilterError):
        return 400, "invalid_request_error", "content_filter"
    if isinstance(exc, InvalidRequestError):
        return 400, "invalid_request_error", None
    if isinstance(exc, UnsupportedFeatureError):
        return 400, "invalid_request_error", "unsupported_feature"
    if isinstance(exc, AuthenticationError):
        if exc.status_code == 403:
            return 403, "permission_error", "upstream_permission_denied"
        return 401, "authentication_error", "upstream_authentication_failed"
    if isinstance(exc, NotFoundError):
        return 404, "not_found_error", "model_not_found"
    if isinstance(exc, TimeoutError):
        return 408, "timeout_error", "upstream_timeout"
    if isinstance(exc, RateLimitError):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(exc, PluginError):
        return 500, "server_error", "plugin_error"
    if isinstance(exc, ProviderError):
        if exc.status_code in (503, 529):
            return 503, "service_unavailable", "upstream_overloaded"
        return 502, "upstream_error", "upstream_error"
    return 500, "server_error", None


def _message(exc: LmuxError, status: int) -> str:
    if isinstance(exc, AuthenticationError) and exc.status_code is not None:
        # The provider's words may quote a masked key: say what happened without them.
        return (
            f"the upstream provider {exc.provider!r} rejected the gateway's credentials "
            f"(status {exc.status_code})"
        )
    if isinstance(exc, AuthenticationError):
        return f"the gateway has no usable credentials for provider {exc.provider!r}"
    if status >= 500 and isinstance(exc, PluginError):
        return f"internal error in the plugin serving {exc.provider!r}"
    return str(exc)


def from_lmux(exc: LmuxError, scrub: Scrubber) -> GatewayError:
    """The gateway error (status, scrubbed body, ``retry-after``) for a lmux-plug error."""
    status, kind, code = error_status(exc)
    headers: dict[str, str] = {}
    # The engine's clamp: an upstream's inf / nan / negative wait is no wait at all.
    wait = clamp_delay(exc.retry_after)
    if wait is not None and status in (429, 503):
        headers["retry-after"] = str(math.ceil(wait))
        headers["retry-after-ms"] = str(int(wait * 1000))
    # A parameter the library refused is named, as the gateway's own checks name theirs.
    param = exc.param if isinstance(exc, InvalidParameterError) else None
    return GatewayError(
        status, scrub(_message(exc, status)), type=kind, code=code, headers=headers, param=param
    )


def as_dict(error: GatewayError) -> dict[str, Any]:
    """The error object (for an error sent inside an SSE stream)."""
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }
