"""Reduce a JSON Schema to the subset Gemini's ``responseJsonSchema`` accepts.

Gemini takes JSON Schema directly (``responseJsonSchema``, ``parametersJsonSchema``) but
rejects or mis-reads keywords outside a documented subset. Keywords outside it (``strict``
leftovers, ``$schema``, ``pattern``, ``default``, ...) are dropped; names *inside*
``properties`` and ``$defs`` are user data and are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SUPPORTED_KEYWORDS", "to_gemini_schema"]

SUPPORTED_KEYWORDS = frozenset(
    {
        "$id",
        "$defs",
        "$ref",
        "$anchor",
        "type",
        "format",
        "title",
        "description",
        "enum",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
        "oneOf",
        "properties",
        "additionalProperties",
        "required",
        "propertyOrdering",
        "nullable",
    }
)
# Keywords whose value maps names to sub-schemas.
_NAMED = frozenset({"properties", "$defs"})
# Keywords whose value is a sub-schema or a list of them.
_NESTED = frozenset({"items", "additionalProperties", "anyOf", "oneOf", "prefixItems"})


def to_gemini_schema(schema: Any) -> Any:
    """Return a copy of ``schema`` with only the keywords Gemini accepts."""
    if isinstance(schema, list):
        return [to_gemini_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in SUPPORTED_KEYWORDS:
            continue
        if key in _NAMED and isinstance(value, Mapping):
            out[key] = {name: to_gemini_schema(sub) for name, sub in value.items()}
        elif key in _NESTED:
            out[key] = to_gemini_schema(value)
        else:
            out[key] = value
    return out
