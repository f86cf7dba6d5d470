"""Bedrock's error answers, refined past what the HTTP status alone says.

Bedrock names the error in ``x-amzn-errortype`` (``ValidationException:http://...``) and
puts ``{"message": ...}`` in the body; the request id is ``x-amzn-requestid``. The core maps
by status; this adds the request id and the cases the status cannot tell: an input that is
too long (400 ``ValidationException``) is :class:`ContextLengthExceededError`, an unknown
model id (400) is :class:`NotFoundError`, a model failure (424 ``ModelErrorException``) is a
retryable :class:`ProviderError`.
"""

from __future__ import annotations

from lmux_plug import ContextLengthExceededError
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug.wire import reclassed
from lmux_plug_bedrock._codec import is_context_overflow

__all__ = ["error_type", "refine_error"]


def error_type(error: LmuxError) -> str:
    """The Bedrock exception name of ``error`` (``ValidationException``), or ``""``."""
    return error.headers.get("x-amzn-errortype", "").split(":", 1)[0]


def refine_error(error: LmuxError) -> LmuxError:
    """``error`` with Bedrock's request id, re-classed where the body says more."""
    request_id = error.request_id or error.headers.get("x-amzn-requestid")
    kind = error_type(error)
    cls: type[LmuxError] = type(error)
    retryable = error.retryable
    if isinstance(error, InvalidRequestError) and not isinstance(error, ContextLengthExceededError):
        if kind in ("ValidationException", "") and is_context_overflow(error.message):
            cls = ContextLengthExceededError
        elif "model identifier is invalid" in error.message.lower():
            cls = NotFoundError
        elif kind == "ModelErrorException":
            cls, retryable = ProviderError, True
    if cls is type(error) and request_id == error.request_id:
        return error
    return reclassed(error, cls, request_id=request_id, retryable=retryable)
