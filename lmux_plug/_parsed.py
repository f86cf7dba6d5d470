"""``chat(..., response_format=SomeClass)``: send the class's schema, answer with the object.

A dataclass, an ``attrs`` class or a Pydantic model given as ``response_format`` is turned
into its JSON schema (strict where the class allows) by
:class:`lmux_plug.batch.structured.StructuredOutput`; the answer's text is parsed and
validated into an instance, put on ``ChatResponse.parsed``. An answer that does not fit raises
``OutputParseError`` carrying the raw text.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING
from typing import Any

import attrs

if TYPE_CHECKING:
    from lmux_plug._types import ChatResponse
    from lmux_plug.batch.structured import StructuredOutput

__all__ = ["take_typed_format", "with_parsed"]


def _is_type_spec(value: object) -> bool:
    if not isinstance(value, type):
        return False
    if attrs.has(value) or dataclasses.is_dataclass(value):
        return True
    pydantic = sys.modules.get("pydantic")  # only if the caller already imported it
    return pydantic is not None and issubclass(value, pydantic.BaseModel)


def take_typed_format(params: dict[str, Any]) -> StructuredOutput | None:
    """If ``params["response_format"]`` is a class, replace it by its schema; return the parser."""
    spec = params.get("response_format")
    if not _is_type_spec(spec):
        return None
    from lmux_plug.batch.structured import StructuredOutput  # noqa: PLC0415 - only when used

    structured = StructuredOutput.from_spec(spec)
    params["response_format"] = structured.response_format
    return structured


def with_parsed(response: ChatResponse, structured: StructuredOutput) -> ChatResponse:
    """``response`` with ``parsed`` set to the object its text decodes into."""
    parsed = structured.parse(
        response.content,
        provider=response.provider,
        model=response.model,
        request_id=response.request_id,
    )
    return attrs.evolve(response, parsed=parsed)
