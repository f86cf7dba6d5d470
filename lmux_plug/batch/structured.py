"""Structured output: a Python type or a JSON schema in, a parsed object out.

:meth:`StructuredOutput.from_spec` accepts an ``attrs`` class, a dataclass, a Pydantic model
(when Pydantic is installed; it is never imported otherwise), a JSON-schema dict (bare, as
``{"name": ..., "schema": ...}`` or OpenAI's ``{"type": "json_schema", ...}``) or a
:class:`~lmux_plug.JsonSchemaResponseFormat`. It builds the
:class:`~lmux_plug.JsonSchemaResponseFormat` sent with every request, once, and
:meth:`StructuredOutput.parse` turns an answer's text into the object, or raises
:class:`OutputParseError` carrying the raw text: a parse failure is never a silent ``None``.

Schemas generated from ``attrs`` classes and dataclasses follow OpenAI's strict mode (every
property required, no additional properties), so they are sent with ``strict=True``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import types
import typing
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import attrs

from lmux_plug._types import JsonSchemaResponseFormat
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import LmuxError

__all__ = ["OutputParseError", "StructuredOutput", "schema_for_type", "validate"]

_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)
_MAX_RAW_IN_MESSAGE = 200


class OutputParseError(LmuxError):
    """The model's answer is not valid for the requested ``response_format``.

    ``raw`` holds the answer's text (``None`` when the model sent no text at all, e.g. a
    refusal), so it can be logged, repaired or retried.
    """

    def __init__(self, message: str, *, raw: str | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.raw = raw


# --------------------------------------------------------------------------- schemas from types


def _is_pydantic_model(spec: object) -> bool:
    # Only look if the user already imported Pydantic: importing it costs ~100 ms.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(spec, type) and issubclass(spec, pydantic.BaseModel)


def _class_fields(cls: type) -> list[tuple[str, Any]]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        msg = f"cannot resolve the annotations of {cls.__name__}: {exc}"
        raise ConfigurationError(msg) from exc
    if attrs.has(cls):
        return [(f.alias or f.name, hints.get(f.name, Any)) for f in attrs.fields(cls)]
    return [(f.name, hints.get(f.name, Any)) for f in dataclasses.fields(cls) if f.init]


def _object_schema(cls: type, seen: frozenset[type]) -> dict[str, Any]:
    if cls in seen:
        msg = f"recursive type {cls.__name__} cannot be inlined into a response schema"
        raise ConfigurationError(msg)
    fields = _class_fields(cls)
    properties = {name: _schema(tp, seen | {cls}) for name, tp in fields}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": [name for name, _ in fields],
        "additionalProperties": False,
    }
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    return schema


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def _schema(tp: Any, seen: frozenset[type]) -> dict[str, Any]:
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, seen) for a in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is ...):
        return {"type": "array", "items": _schema(args[0], seen) if args else {}}
    if origin is tuple:
        return {
            "type": "array",
            "prefixItems": [_schema(a, seen) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin in (dict, Mapping) or tp in (dict, list):
        if tp is list:
            return {"type": "array"}
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _schema(value, seen)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp)):
        return _object_schema(tp, seen)
    msg = f"type {tp!r} has no JSON-schema equivalent for structured output"
    raise ConfigurationError(msg)


def schema_for_type(cls: type) -> dict[str, Any]:
    """Build a strict-mode JSON schema (inlined, no ``$ref``) for an attrs class or dataclass."""
    if not (attrs.has(cls) or dataclasses.is_dataclass(cls)):
        msg = f"{cls!r} is not an attrs class or a dataclass"
        raise ConfigurationError(msg)
    return _object_schema(cls, frozenset())


# --------------------------------------------------------------------------- validation


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else ():
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        msg = f"cannot resolve $ref {ref!r} in the response schema"
        raise ConfigurationError(msg)
    return node


def _problems(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> list[str]:
    """List what is wrong with ``value`` (the JSON Schema subset structured output uses)."""
    schema = _resolve(schema, root)
    where = path
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            if not any(not _problems(value, s, root, path) for s in options):
                return [f"{where}: matches none of the {len(options)} allowed shapes"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']!r}"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: expected {schema['const']!r}"]
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_JSON_TYPES.get(k, lambda _: True)(value) for k in kinds):
            return [f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        found.extend(
            f"{where}: missing {name!r}"
            for name in schema.get("required") or ()
            if name not in value
        )
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found.extend(_problems(item, properties[name], root, f"{path}.{name}"))
            elif extra is False:
                found.append(f"{where}: unexpected property {name!r}")
            elif isinstance(extra, Mapping):
                found.extend(_problems(item, extra, root, f"{path}.{name}"))
    elif isinstance(value, list):
        prefix = schema.get("prefixItems") or []
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if isinstance(sub, Mapping):
                found.extend(_problems(item, sub, root, f"{path}[{i}]"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            found.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{where}: more than {schema['maxItems']} items")
    return found


def validate(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Check decoded JSON against ``schema``; return the problems found (empty when valid).

    Covers the keywords structured output uses: ``type``, ``properties``, ``required``,
    ``additionalProperties``, ``items``, ``prefixItems``, ``enum``, ``const``, ``anyOf``,
    ``oneOf`` and local ``$ref``.
    """
    return _problems(value, schema, schema, "$")


# --------------------------------------------------------------------------- the public object


def _strip_fence(text: str) -> str:
    # Some models wrap JSON in a Markdown code fence even when asked for JSON.
    match = _FENCE.match(text)
    return match.group("body") if match else text


def _short(raw: str) -> str:
    return raw if len(raw) <= _MAX_RAW_IN_MESSAGE else raw[:_MAX_RAW_IN_MESSAGE] + "..."


@attrs.frozen
class StructuredOutput:
    """A response format to send and the parser for the answers it produces."""

    response_format: JsonSchemaResponseFormat
    target: Any = None  # the class to build, or None for plain decoded JSON
    kind: str = "schema"  # "attrs", "dataclass", "pydantic" or "schema"

    @classmethod
    def from_spec(cls, spec: Any) -> StructuredOutput:
        """Build from a class or a schema; bad specs raise :class:`ConfigurationError`."""
        if isinstance(spec, StructuredOutput):
            return spec
        if isinstance(spec, JsonSchemaResponseFormat):
            return cls(spec)
        if isinstance(spec, Mapping):
            return cls(_format_from_dict(spec))
        if _is_pydantic_model(spec):
            schema = spec.model_json_schema()
            return cls(
                JsonSchemaResponseFormat(name=_name(spec.__name__), schema=schema, strict=False),
                spec,
                "pydantic",
            )
        if isinstance(spec, type) and (attrs.has(spec) or dataclasses.is_dataclass(spec)):
            kind = "attrs" if attrs.has(spec) else "dataclass"
            schema = schema_for_type(spec)
            return cls(
                JsonSchemaResponseFormat(name=_name(spec.__name__), schema=schema), spec, kind
            )
        msg = (
            "response_format must be an attrs class, a dataclass, a Pydantic model or a "
            f"JSON-schema dict, got {spec!r}"
        )
        raise ConfigurationError(msg)

    def parse(self, text: str | None, **context: Any) -> Any:
        """Decode and validate ``text``; raise :class:`OutputParseError` if it does not fit.

        ``context`` (``provider``, ``model``, ``request_id``) is put on the error.
        """
        if text is None or not text.strip():
            raise OutputParseError("the model returned no text to parse", raw=text, **context)
        body = _strip_fence(text)
        if self.kind == "pydantic":
            try:
                return self.target.model_validate_json(body)
            except ValueError as exc:  # pydantic.ValidationError is a ValueError
                msg = f"answer does not fit {self.target.__name__}: {exc}"
                raise OutputParseError(msg, raw=text, **context) from None
        try:
            value = json.loads(body)
        except ValueError as exc:
            msg = f"answer is not valid JSON ({exc}): {_short(text)!r}"
            raise OutputParseError(msg, raw=text, **context) from None
        problems = validate(value, self.response_format.schema)
        if problems:
            msg = f"answer does not fit the schema: {'; '.join(problems[:5])}"
            raise OutputParseError(msg, raw=text, **context)
        if self.target is None:
            return value
        try:
            return _converter().structure(value, self.target)
        except Exception as exc:  # noqa: BLE001 - cattrs raises ClassValidationError (an ExceptionGroup)
            msg = f"answer does not fit {self.target.__name__}: {exc}"
            raise OutputParseError(msg, raw=text, **context) from None


def _name(raw: str) -> str:
    return _NAME_OK.sub("_", raw)[:64] or "response"


def _format_from_dict(spec: Mapping[str, Any]) -> JsonSchemaResponseFormat:
    if spec.get("type") == "json_schema":
        spec = spec.get("json_schema", spec)
    if "schema" in spec and isinstance(spec["schema"], Mapping):
        schema = spec["schema"]
        name = str(spec.get("name") or schema.get("title") or "response")
        strict = bool(spec.get("strict", False))
        description = spec.get("description")
    else:
        schema, name, strict, description = spec, str(spec.get("title") or "response"), False, None
    if not schema or not isinstance(schema.get("type", "object"), (str, list)):
        msg = f"not a JSON schema: {dict(spec)!r}"
        raise ConfigurationError(msg)
    return JsonSchemaResponseFormat(
        name=_name(name), schema=dict(schema), strict=strict, description=description
    )


_CONVERTER: Any = None


def _converter() -> Any:
    global _CONVERTER  # noqa: PLW0603 - one lazily built converter, cattrs is slow to build
    if _CONVERTER is None:
        import cattrs  # noqa: PLC0415 - only structured batches need it

        _CONVERTER = cattrs.Converter(forbid_extra_keys=True)
    return _CONVERTER
