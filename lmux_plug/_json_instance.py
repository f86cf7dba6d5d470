"""A deterministic JSON value that validates against a JSON Schema (for the offline ``echo``).

Covers what structured-output and tool schemas use: ``type`` (one or a list), ``enum``,
``const``, ``properties`` / ``required`` / ``additionalProperties``, ``items`` /
``prefixItems`` / ``minItems`` / ``maxItems`` / ``uniqueItems``, ``anyOf`` / ``oneOf`` /
``allOf``, ``$ref`` into ``$defs`` / ``definitions``, string ``minLength`` / ``maxLength`` /
``format`` and numeric bounds. ``text`` seeds the strings, so the same request always gives
the same value. A string ``pattern`` is met when the text or one of a few plain candidates
(words, digits, codes, the format examples) matches it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_of"]

_MAX_DEPTH = 12
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "echo@example.com",
    "uri": "https://example.com/echo",
    "url": "https://example.com/echo",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}


def instance_of(schema: Mapping[str, Any], text: str = "echo") -> Any:
    """A value valid under ``schema``; strings are taken from ``text``."""
    return _Builder(schema, text or "echo").build(schema, 0)


class _Builder:
    def __init__(self, root: Mapping[str, Any], text: str, offset: int = 0) -> None:
        self.root = root
        self.text = text
        # Non-zero for the further items of a ``uniqueItems`` array: the n-th variant of each
        # value (another enum member, number or string), so the items differ.
        self.offset = offset

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
            ref = schema["$ref"]
            target: Any = self.root
            if ref.startswith("#"):
                for part in ref.lstrip("#").split("/"):
                    if part:
                        target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if isinstance(target, Mapping) else rest
            seen += 1
        return schema

    def build(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return None if schema is False else self.text
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][self.offset % len(schema["enum"])]
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                if isinstance(part, Mapping):
                    _merge(merged, self.resolve(part))
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.build(_merge(merged, rest), depth)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # Prefer a non-null branch: an answer with content reads better.
                chosen = next(
                    (o for o in options if isinstance(o, Mapping) and o.get("type") != "null"),
                    options[0],
                )
                rest = {k: v for k, v in schema.items() if k != key}
                return self.build({**rest, **self.resolve(chosen)}, depth)
        kind = _kind(schema)
        if depth >= _MAX_DEPTH and kind in ("object", "array"):
            kind = "null" if "null" in _types(schema) else kind
        return getattr(self, f"_{kind}")(schema, depth)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = [r for r in schema.get("required", ()) if isinstance(r, str)]
        out: dict[str, Any] = {}
        # Every declared property (not only the required ones), so answers show the shape.
        for name in [*properties, *(r for r in required if r not in properties)]:
            out[name] = self.build(properties.get(name, {}), depth + 1)
        minimum = schema.get("minProperties")
        extra = schema.get("additionalProperties")
        index = 0
        while isinstance(minimum, int) and len(out) < minimum and extra is not False:
            out[f"{self.text[:16]}_{index}"] = self.build(
                extra if isinstance(extra, Mapping) else {}, depth + 1
            )
            index += 1
        return out

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        out = [self.build(p, depth + 1) for p in prefix] if isinstance(prefix, list) else []
        if isinstance(items, list):  # draft-04 tuple form
            out.extend(self.build(p, depth + 1) for p in items)
            items = schema.get("additionalItems", {})
        minimum = schema.get("minItems", 1)
        minimum = minimum if isinstance(minimum, int) else 1
        maximum = schema.get("maxItems")
        wanted = max(minimum, len(out))
        if isinstance(maximum, int):
            wanted = min(wanted, maximum)
        if schema.get("uniqueItems") is True:
            # Variants until enough distinct items (as many as the schema allows).
            for offset in range(4 * wanted + 8):
                if len(out) >= wanted or items is False:
                    break
                item = _Builder(self.root, self.text, offset).build(items, depth + 1)
                if item not in out:
                    out.append(item)
        while len(out) < wanted and items is not False:
            out.append(self.build(items, depth + 1))
        return out[:wanted] if isinstance(maximum, int) else out

    def _string(self, schema: Mapping[str, Any], _depth: int) -> str:
        value = _FORMATS.get(str(schema.get("format")), self.text)
        if self.offset and value is self.text:
            value = f"{self.offset}{value}"  # a prefix survives a maxLength cut
        pattern = schema.get("pattern")
        if not isinstance(pattern, str):
            return _sized(value, schema)
        # No general inverse of a regex: the first of a few plain candidates that matches.
        import re  # noqa: PLC0415 - only for schemas with a pattern

        for candidate in (value, *_PATTERN_CANDIDATES):
            sized = _sized(candidate, schema)
            try:
                if re.search(pattern, sized):
                    return sized
            except re.error:
                break
        return _sized(value, schema)

    def _integer(self, schema: Mapping[str, Any], _depth: int) -> int:
        return int(self._pick(schema, integer=True))

    def _number(self, schema: Mapping[str, Any], _depth: int) -> float:
        return float(self._pick(schema, integer=False))

    def _pick(self, schema: Mapping[str, Any], *, integer: bool) -> float:
        """A number within the bounds and a ``multipleOf``, tried from a few candidates.

        The candidates: the text's length, each bound and a step inside it, the middle.
        """
        low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
        high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
        step = 1.0 if integer else 0.5
        candidates: list[float] = [float(len(self.text) + self.offset)]
        if low is not None:
            candidates += [low + self.offset * step, low, low + step]
        if high is not None:
            candidates += [high, high - step]
        if low is not None and high is not None:
            candidates.append((low + high) / 2)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, (int, float)) and not isinstance(multiple, bool) and multiple > 0:
            candidates = [
                f(c / multiple) * multiple for c in candidates for f in (math.ceil, math.floor)
            ]
        if integer:
            candidates = [float(f(c)) for c in candidates for f in (math.ceil, math.floor)]

        def fits(value: float) -> bool:
            above = low is None or (value > low if low_open else value >= low)
            below = high is None or (value < high if high_open else value <= high)
            return above and below

        return next((c for c in candidates if fits(c)), candidates[0])

    def _boolean(self, _schema: Mapping[str, Any], _depth: int) -> bool:
        return self.offset % 2 == 0

    def _null(self, _schema: Mapping[str, Any], _depth: int) -> None:
        return None


# Tried in order for a string ``pattern``: common shapes of identifiers, codes and numbers.
_PATTERN_CANDIDATES = (
    "echo",
    "ECHO",
    "Echo",
    "0",
    "12345",
    "abc123",
    "ABC123",
    "abc",
    "ABC",
    "e",
    "E",
    "echo-1",
    "echo_1",
    *_FORMATS.values(),
)


def _sized(value: str, schema: Mapping[str, Any]) -> str:
    """``value`` repeated or cut to the schema's ``minLength`` / ``maxLength``."""
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        value = (value * (low // max(len(value), 1) + 1))[:low]
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _kind(schema: Mapping[str, Any]) -> str:
    known = ("object", "array", "string", "integer", "number", "boolean", "null")
    for kind in _types(schema):
        if kind in known and kind != "null":
            return kind
    if _types(schema) == ["null"]:
        return "null"
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """A bound and whether it is exclusive (draft 6+ numbers, or draft 4's booleans)."""
    value = schema.get(exclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), True
    draft4_open = value is True
    value = schema.get(inclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), draft4_open
    return None, False


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in part.items():
        if key == "properties" and isinstance(value, Mapping):
            into["properties"] = {**into.get("properties", {}), **value}
        elif key == "required" and isinstance(value, list):
            into["required"] = [*into.get("required", []), *value]
        else:
            into[key] = value
    return into
