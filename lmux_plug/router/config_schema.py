"""Validation of router config files with ``cattrs``: types, ranges, unknown keys, references.

A decoded TOML table is structured by a strict converter (no ``"3"`` -> ``3``, no ``True``
-> ``1``, no string where a list belongs, no unknown key), field by field, against schema
classes derived from the runtime classes of :mod:`lmux_plug.router.config`: a field added
there (with a type) is read from files with no change here; a range for it goes in
:data:`RANGES`. Every problem is reported at once, each as ``file: $.path: what is wrong``::

    lmux.toml: $.models.fast.retries: expected int, got 'many'

The result is plain keyword dicts; :mod:`lmux_plug.router.config` builds the runtime
objects from them.
"""

from __future__ import annotations

import difflib
import functools
import math
import typing
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Optional

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.errors import IterableValidationError
from cattrs.errors import IterableValidationNote

from lmux_plug.errors import ConfigurationError

__all__ = [
    "RANGES",
    "ConfigProblem",
    "ConfigValidationError",
    "SchemaConverter",
    "check_ranges",
    "extend_schema",
    "model_reference_problem",
    "schema_of",
    "unknown_keys",
]


@attrs.frozen
class ConfigProblem:
    """One problem of a config file: where (``$.models.fast.retries``) and what."""

    path: str
    message: str


class ConfigValidationError(ConfigurationError):
    """A config file is invalid; :attr:`problems` lists every problem found, with its path."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        lines = [f"{source}: {p.path}: {p.message}" for p in problems]
        super().__init__("\n".join(lines) if lines else f"{source}: invalid config")
        self.source = source
        self.problems = tuple(problems)

    @property
    def declares_no_models(self) -> bool:
        """Whether the one problem is a missing ``[models]`` (a gateway-only ``lmux.toml``).

        Such a file, found on the way up rather than named, is no router config.
        """
        return [p.path for p in self.problems] == ["$.models"]


# -- ranges -------------------------------------------------------------------------------
# field name -> (check, what the value must be). Applied wherever the field appears.


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: v >= low


def _above(low: float) -> Callable[[Any], bool]:
    return lambda v: v > low


def _between(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: low <= v <= high


RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "retries": (_at_least(0), ">= 0"),
    "deadline": (_above(0), "> 0"),
    "attempt_timeout": (_above(0), "> 0"),
    "backoff_base": (_at_least(0), ">= 0"),
    "backoff_max": (_at_least(0), ">= 0"),
    "retry_after_cap": (_at_least(0), ">= 0"),
    "breaker_threshold": (_at_least(1), ">= 1"),
    "breaker_cooldown": (_at_least(0), ">= 0"),
    "breaker_max_cooldown": (_at_least(0), ">= 0"),
    "breaker_probes": (_at_least(1), ">= 1"),
    "cache_ttl": (_at_least(0), ">= 0"),
    "cache_size": (_at_least(0), ">= 0"),
    "weight": (_above(0), "> 0"),
    "context_window": (_above(0), "> 0"),
    "rpm": (_above(0), "> 0"),
    "tpm": (_above(0), "> 0"),
    "rpd": (_above(0), "> 0"),
    "tpd": (_above(0), "> 0"),
    "burst": (_above(0), "> 0"),
    "token_burst": (_above(0), "> 0"),
    "minute": (_above(0), "> 0"),
    # Settings of the gateway table, checked by lmux_plug.gateway.config:
    "port": (_between(0, 65535), "between 0 and 65535"),
    "max_body_bytes": (_at_least(1), ">= 1"),
    "body_timeout": (_above(0), "> 0"),
    "max_in_flight": (_at_least(1), ">= 1"),
    "budget_max_tokens": (_at_least(1), ">= 1"),
    "header_timeout": (_above(0), "> 0"),
    "workers": (_at_least(1), ">= 1"),
}


# -- strict scalars ------------------------------------------------------------------------


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected int, got {_shown(value)}"
        raise TypeError(msg)
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"expected a number, got {_shown(value)}"
        raise TypeError(msg)
    if not math.isfinite(value):
        msg = f"expected a finite number, got {_shown(value)}"
        raise ValueError(msg)
    return value


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        msg = f"expected a string, got {_shown(value)}"
        raise TypeError(msg)
    return value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        msg = f"expected true or false, got {_shown(value)}"
        raise TypeError(msg)
    return value


class SchemaConverter:
    """A strict ``cattrs`` converter and the paths of the problems it finds."""

    def __init__(self) -> None:
        self.converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        for kind, hook in (
            (int, _strict_int),
            (float, _strict_float),
            (str, _strict_str),
            (bool, _strict_bool),
        ):
            self.converter.register_structure_hook(kind, hook)
        self.converter.register_structure_hook_factory(_is_sequence, self._sequence_hook)
        self.converter.register_structure_hook_factory(_is_literal, _literal_hook)

    def _sequence_hook(self, kind: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        (item,) = [a for a in typing.get_args(kind) if a is not Ellipsis][:1] or [Any]
        structure_item = self.converter.get_structure_hook(item)

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
                msg = f"expected a list, got {_shown(value)}"
                raise TypeError(msg)
            out: list[Any] = []
            errors: list[Exception] = []
            for index, element in enumerate(value):
                try:
                    out.append(structure_item(element, item))
                except Exception as exc:  # noqa: BLE001 - collected and re-raised with paths
                    note = IterableValidationNote(f"Structuring list @ index {index}", index, item)
                    # As cattrs notes an item's error (``add_note`` is 3.11+).
                    exc.__dict__["__notes__"] = [*getattr(exc, "__notes__", []), note]
                    errors.append(exc)
            if errors:
                raise IterableValidationError("invalid list", errors, kind)
            return tuple(out)

        return structure

    def structure(self, value: Any, kind: Any, path: str) -> tuple[Any, list[ConfigProblem]]:
        """``value`` structured as ``kind``, or ``None`` and the problems with their paths."""
        try:
            return self.converter.structure(value, kind), []
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reported problem
            return None, list(_problems(exc, path))

    def structure_table(
        self, value: Any, kind: type, path: str
    ) -> tuple[dict[str, Any], list[ConfigProblem]]:
        """The keys of a table that structure well, and the problems of the others.

        The good keys come back as a dict (``None`` values dropped), so they can still be
        range-checked when another key of the table is wrong.
        """
        if not isinstance(value, Mapping):
            return {}, [ConfigProblem(path, f"expected a table, got {_shown(value)}")]
        structured, problems = self.structure(value, kind, path)
        if problems:
            bad = {p.path[len(path) + 1 :].split(".")[0].split("[")[0] for p in problems}
            rest = {k: v for k, v in value.items() if k not in bad}
            structured, more = self.structure(rest, kind, path)
            problems += more
        if structured is None:
            return {}, problems
        values = attrs.asdict(structured, recurse=False)
        return {k: v for k, v in values.items() if v is not None}, problems


def _is_sequence(kind: Any) -> bool:
    origin = typing.get_origin(kind)
    return origin in (tuple, list) and (
        origin is list or (len(typing.get_args(kind)) == 2 and typing.get_args(kind)[1] is ...)
    )


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is typing.Literal


def _literal_hook(kind: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(kind)

    def structure(value: Any, _: Any) -> Any:
        if value not in allowed or type(value) not in {type(a) for a in allowed}:
            names = ", ".join(repr(a) for a in allowed)
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"expected one of {names}, got {_shown(value)}{hint}"
            raise ValueError(msg)
        return value

    return structure


def _problems(exc: BaseException, path: str) -> list[ConfigProblem]:
    """Flatten a cattrs error tree into problems with JSON paths."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        found: list[ConfigProblem] = []
        for inner in exc.exceptions:
            found.extend(_problems(inner, path + _step(inner)))
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        known = sorted(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        problems = []
        for key in sorted(exc.extra_fields):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(ConfigProblem(f"{path}.{key}", f"unknown key{hint}"))
        return problems
    if isinstance(exc, KeyError):
        return [ConfigProblem(path, "required key missing")]
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ConfigurationError):
        message = exc.message
    return [ConfigProblem(path, message)]


def _step(exc: BaseException) -> str:
    for note in getattr(exc, "__notes__", ()):
        name = getattr(note, "name", None)
        if isinstance(name, str):
            return f".{name}"
        index = getattr(note, "index", None)
        if isinstance(index, int):
            return f"[{index}]"
        if isinstance(index, str):  # a mapping's key (``aliases.fast``)
            return f".{index}"
    return ""


@functools.cache
def schema_of(cls: type, drop: frozenset[str] = frozenset()) -> type:
    """An attrs class with the fields of ``cls`` (types resolved, all optional, no validators).

    The runtime class's own validators and converters run later, when the runtime object
    is built from the structured values; here only types and unknown keys are checked.
    """
    attrs.resolve_types(cls)
    fields: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in drop or field.name.startswith("_"):
            continue
        optional: Any = Optional[field.type]  # noqa: UP045 - a run-time type object
        fields[field.name] = attrs.field(type=optional, default=None, kw_only=True)
    return attrs.make_class(f"{cls.__name__}Schema", fields, frozen=True)


@functools.cache
def _extended(schema: type, added: tuple[tuple[str, Any], ...]) -> type:
    fields: dict[str, Any] = {
        f.name: attrs.field(type=f.type, default=None, kw_only=True) for f in attrs.fields(schema)
    }
    for name, kind in added:
        optional: Any = Optional[kind]  # noqa: UP045 - a run-time type object
        fields[name] = attrs.field(type=optional, default=None, kw_only=True)
    return attrs.make_class(schema.__name__, fields, frozen=True)


def extend_schema(schema: type, added: Mapping[str, Any]) -> type:
    """``schema`` with more (optional) fields, for keys a file has and the class has not."""
    return _extended(schema, tuple(added.items()))


def check_ranges(values: Mapping[str, Any], path: str) -> list[ConfigProblem]:
    """The :data:`RANGES` problems of one table's structured values."""
    problems = []
    for name, value in values.items():
        rule = RANGES.get(name)
        if rule is None or value is None or isinstance(value, bool):
            continue
        check, expected = rule
        if isinstance(value, (int, float)) and not check(value):
            problems.append(ConfigProblem(f"{path}.{name}", f"must be {expected}, got {value!r}"))
    return problems


def model_reference_problem(target: str, models: Sequence[str], path: str) -> ConfigProblem | None:
    """The problem of a reference to a model (a fallback, an alias), or ``None`` if it is fine.

    A reference names a logical model of the file (one of ``models``) or a ``provider/model``.
    """
    if target in models or "/" in target:
        return None
    close = difflib.get_close_matches(target, list(models), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    message = f"unknown model {target!r} (not a logical model here, nor 'provider/model'){hint}"
    return ConfigProblem(path, message)


def unknown_keys(
    table: Mapping[str, Any], known: Sequence[str], path: str, what: str = "key"
) -> list[ConfigProblem]:
    """A problem for each key of ``table`` not in ``known``, with a did-you-mean."""
    problems = []
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(ConfigProblem(f"{path}.{key}", f"unknown {what}{hint}"))
    return problems
