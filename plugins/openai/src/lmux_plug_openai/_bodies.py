"""The start and the end every non-chat JSON request body shares (Responses, completions).

:func:`body_with` checks the model id and copies the request's plain fields that are set;
:func:`finished` merges the caller's ``extra`` fields last and refuses a body that is not
JSON, so nothing unsendable reaches the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Protocol

from lmux_plug import InvalidRequestError

__all__ = ["body_with", "finished"]


class _Request(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def extra(self) -> Mapping[str, Any]: ...


def body_with(request: _Request, fields: Iterable[str], **first: Any) -> dict[str, Any]:
    """``{"model": ..., **first}`` and each of the request's ``fields`` that is not ``None``.

    Raises ``InvalidRequestError`` for an empty model id.
    """
    if not request.model:
        msg = "model id must not be empty"
        raise InvalidRequestError(msg)
    body: dict[str, Any] = {"model": request.model, **first}
    for name in fields:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    return body


def finished(body: dict[str, Any], request: _Request) -> dict[str, Any]:
    """``body`` with the request's ``extra`` merged last; ``InvalidRequestError`` if not JSON."""
    body.update(request.extra)
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"request body must be JSON-serialisable: {exc}"
        raise InvalidRequestError(msg, model=request.model) from exc
    return body
