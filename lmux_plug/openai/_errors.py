"""The ``openai`` package's exception names, raised by the drop-in client.

Code ported from the ``openai`` SDK catches ``openai.RateLimitError``; code written for
lmux-plug catches ``lmux_plug.RateLimitError``. Errors raised by :mod:`lmux_plug.openai`
are both: each class here subclasses the matching :mod:`lmux_plug.errors` class and, when
the ``openai`` package is installed, the ``openai`` class of the same name. The original
lmux-plug class is kept too (a ``ContextLengthExceededError`` becomes a
``BadRequestError`` that is still a ``ContextLengthExceededError``). Without ``openai``
the same names exist, as subclasses of the lmux-plug errors only.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from lmux_plug import errors as lmux

__all__ = [
    "ERROR_NAMES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "as_openai_error",
    "translated",
]


def _openai_class(name: str) -> tuple[type[BaseException], ...]:
    """``(openai.<name>,)`` when the package is installed, else ``()``."""
    try:
        import openai  # noqa: PLC0415 - optional, and heavy: only for this module
    except ImportError:
        return ()
    found = getattr(openai, name, None)
    return (found,) if isinstance(found, type) and issubclass(found, BaseException) else ()


def _init(self: Any, message: str, **context: Any) -> None:
    # The openai classes' __init__ wants httpx objects, and LmuxError.__init__ would reach
    # it through super(): take lmux-plug's attributes from a plain LmuxError instead.
    template = lmux.LmuxError(message, **context)
    if context.get("retryable") is None:
        template.retryable = self.default_retryable
    Exception.__init__(self, message)
    self.__dict__.update(template.__dict__)
    self.__dict__.update(_openai_attributes(template.body, None))


def _make(name: str, *bases: type[BaseException]) -> Any:
    cls = type(name, (*bases, *_openai_class(name)), {"__init__": _init, "__module__": __name__})
    cls.__doc__ = f"``openai.{name}`` for the drop-in client (also a lmux-plug error)."
    return cls


# The class tree mirrors openai's: OpenAIError > APIError > APIStatusError > per status.
OpenAIError: Any = _make("OpenAIError", lmux.LmuxError)
APIError: Any = _make("APIError", OpenAIError)
APIConnectionError: Any = _make("APIConnectionError", APIError, lmux.ProviderError)
APITimeoutError: Any = _make("APITimeoutError", APIConnectionError, lmux.TimeoutError)
APIStatusError: Any = _make("APIStatusError", APIError)
BadRequestError: Any = _make("BadRequestError", APIStatusError, lmux.InvalidRequestError)
AuthenticationError: Any = _make("AuthenticationError", APIStatusError, lmux.AuthenticationError)
PermissionDeniedError: Any = _make(
    "PermissionDeniedError", APIStatusError, lmux.AuthenticationError
)
NotFoundError: Any = _make("NotFoundError", APIStatusError, lmux.NotFoundError)
ConflictError: Any = _make("ConflictError", APIStatusError, lmux.ProviderError)
UnprocessableEntityError: Any = _make(
    "UnprocessableEntityError", APIStatusError, lmux.InvalidRequestError
)
RateLimitError: Any = _make("RateLimitError", APIStatusError, lmux.RateLimitError)
InternalServerError: Any = _make("InternalServerError", APIStatusError, lmux.ProviderError)

#: The error classes, named as in the ``openai`` package.
ERROR_NAMES = tuple(name for name in __all__ if name.endswith("Error"))

_BY_STATUS: dict[int, Any] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
# Without a status (a check before any I/O, or no answer at all), by lmux-plug class.
_BY_CLASS: tuple[tuple[type[lmux.LmuxError], Any], ...] = (
    (lmux.TimeoutError, APITimeoutError),
    (lmux.RateLimitError, RateLimitError),
    (lmux.AuthenticationError, AuthenticationError),
    (lmux.NotFoundError, NotFoundError),
    (lmux.InvalidRequestError, BadRequestError),
    (lmux.UnsupportedFeatureError, BadRequestError),
    (lmux.PluginError, APIError),
    (lmux.ProviderError, APIConnectionError),
)
_combined: dict[tuple[type, type], type] = {}
_combined_lock = threading.Lock()


def _target(error: lmux.LmuxError) -> Any:
    status = error.status_code
    if status is not None:
        found = _BY_STATUS.get(status)
        if found is not None:
            return found
        return InternalServerError if status >= 500 else APIStatusError
    for lmux_class, target in _BY_CLASS:
        if isinstance(error, lmux_class):
            return target
    return OpenAIError


def _class_for(target: type, original: type) -> type:
    """``target``, also a subclass of ``original`` (the lmux-plug class actually raised)."""
    if issubclass(target, original):
        return target
    key = (target, original)
    with _combined_lock:
        cls = _combined.get(key)
        if cls is None:
            cls = type(target.__name__, (target, original), {"__module__": __name__})
            _combined[key] = cls
    return cls


def _body(text: str | None) -> object | None:
    """The ``body`` of openai's errors: the decoded ``error`` object when the provider sent JSON."""
    if text is None:
        return None
    try:
        decoded: object = json.loads(text)
    except ValueError:
        return text
    inner = decoded.get("error") if isinstance(decoded, dict) else None
    return inner if isinstance(inner, dict) else decoded


def as_openai_error(error: lmux.LmuxError) -> lmux.LmuxError:
    """``error`` as the matching drop-in class (unchanged if it already is one)."""
    if isinstance(error, OpenAIError):
        return error  # type: ignore[no-any-return]
    cls = _class_for(_target(error), type(error))
    converted: Any = _builtin_base(cls).__new__(cls)
    Exception.__init__(converted, error.message)
    converted.__dict__.update(error.__dict__)
    converted.__dict__.update(_openai_attributes(error.body, getattr(error, "param", None)))
    return converted  # type: ignore[no-any-return]


def translated(error: lmux.LmuxError) -> lmux.LmuxError:
    """``error`` as the ``openai``-named class, keeping its traceback (re-raise it)."""
    return as_openai_error(error).with_traceback(error.__traceback__)


def _builtin_base(cls: type) -> type[BaseException]:
    """The builtin exception whose ``__new__`` must make an instance of ``cls``.

    ``Exception.__new__`` refuses a class whose layout is ``OSError``'s: a timeout is also
    the builtin ``TimeoutError`` (an ``OSError``).
    """
    for base in cls.__mro__:
        if base.__module__ == "builtins" and issubclass(base, BaseException):
            return base
    return Exception  # pragma: no cover - every exception class has a builtin base


def _openai_attributes(text: str | None, param: str | None) -> dict[str, Any]:
    """The attributes openai's errors carry, from what lmux-plug knows."""
    body = _body(text)
    details = body if isinstance(body, dict) else {}
    code = details.get("code")
    return {
        "body": body,
        "code": None if code is None else str(code),
        "param": details.get("param") or param,
        "type": details.get("type"),
        "request": None,
        "response": None,
    }
