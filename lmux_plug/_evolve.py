"""``evolve``: a copy of a frozen attrs instance with some fields changed, for hot paths.

``attrs.evolve`` looks the class's fields up again on every call and passes every field by
keyword, which costs about twice as much as building the instance. Here the plan of the
copy is worked out once per (class, changed names): the values are read with one
``attrgetter`` and passed positionally, the changed ones put in their places (every
answer goes through this once in the registry and once more in the router). Frozen
answers are never changed in place (no ``object.__setattr__``): a changed answer is a new
instance, built by the class's own ``__init__`` (converters and validators run).

One exception, where ``__init__`` would store every value as it is: a dict class
(``slots=False``, as the call types are) without ``__attrs_pre_init__`` or
``__attrs_post_init__``, where every changed field has neither a converter nor a
validator. The other values come from a built instance, so they are converted already;
the copy is then the instance's dict with the changes applied (a fifth of the cost of
``__init__``, which also re-ran every converter and copied the answer's headers).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any
from typing import TypeVar

import attrs

__all__ = ["evolve"]

_T = TypeVar("_T", bound=attrs.AttrsInstance)
_Copier = Callable[[Any, dict[str, Any]], Any]
_COPIERS: dict[tuple[type, tuple[str, ...]], _Copier] = {}


def evolve(instance: _T, **changes: Any) -> _T:
    """``attrs.evolve(instance, **changes)``, with the copy planned once per class."""
    cls = type(instance)
    key = (cls, tuple(changes))
    copier = _COPIERS.get(key)
    if copier is None:
        copier = _COPIERS[key] = _plan(cls, key[1])
    result: _T = copier(instance, changes)
    return result


def _plan(cls: type, changed: tuple[str, ...]) -> _Copier:
    """How to copy ``cls`` with the init arguments ``changed`` replaced."""
    fields = [f for f in attrs.fields(cls) if f.init]
    aliases = [f.alias or f.name for f in fields]
    if _stored_as_given(cls, fields, changed):
        return _copy_dict
    if not fields or any(f.kw_only for f in fields) or not set(changed) <= set(aliases):
        # Keyword-only fields, or a name that is no init argument (``cls`` raises the
        # same TypeError as attrs.evolve): every value by keyword.
        return _by_keyword(cls, fields, changed)
    getter = operator.attrgetter(*(f.name for f in fields))
    places = tuple((aliases.index(alias), alias) for alias in changed)

    if len(fields) == 1:  # attrgetter of one name returns the value, not a 1-tuple
        alias = aliases[0]

        def copy_one(instance: Any, changes: dict[str, Any]) -> Any:
            return cls(changes[alias]) if changes else cls(getter(instance))

        return copy_one

    if len(places) == 1:
        ((index, alias),) = places

        def copy_with_one(instance: Any, changes: dict[str, Any]) -> Any:
            values = list(getter(instance))
            values[index] = changes[alias]
            return cls(*values)

        return copy_with_one

    def copy(instance: Any, changes: dict[str, Any]) -> Any:
        values = list(getter(instance))
        for index, alias in places:
            values[index] = changes[alias]
        return cls(*values)

    return copy


def _stored_as_given(
    cls: type, fields: list[attrs.Attribute[Any]], changed: tuple[str, ...]
) -> bool:
    """Whether ``cls.__init__`` would store the ``changed`` fields as given and do no more.

    Read from attrs' record of how it made each class (``__attrs_props__``, attrs >= 25.4;
    with an older attrs every copy goes through ``__init__``).
    """
    if not changed or len(fields) != len(attrs.fields(cls)):
        return False
    if any("__new__" in klass.__dict__ for klass in cls.__mro__[:-1]):
        return False  # the copy is made by object.__new__
    for klass in cls.__mro__:
        if "__attrs_attrs__" not in klass.__dict__:
            continue
        props = klass.__dict__.get("__attrs_props__")
        # Slotted values are not in the dict; a cached hash would be copied with it.
        if props is None or props.is_slotted or props.hashability.value == "hashable_cache":
            return False
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return False
    plain = {
        f.name
        for f in fields
        if f.converter is None and f.validator is None and f.alias in (None, f.name)
    }
    return all(name in plain for name in changed)


def _copy_dict(instance: Any, changes: dict[str, Any]) -> Any:
    """A new instance of ``instance``'s class: its dict with ``changes`` (see the module)."""
    copy = object.__new__(type(instance))
    # Not shared yet: filling the new instance's dict is what attrs' __init__ does.
    copy.__dict__.update(instance.__dict__, **changes)
    return copy


def _by_keyword(cls: type, fields: list[attrs.Attribute[Any]], changed: tuple[str, ...]) -> _Copier:
    kept = [f for f in fields if f.alias not in changed]
    names = [f.name for f in kept]
    kept_aliases = tuple(f.alias or f.name for f in kept)
    if not names:
        return lambda _instance, changes: cls(**changes)
    getter = operator.attrgetter(*names)
    # attrgetter of one name returns the value itself, not a 1-tuple.
    values = getter if len(names) > 1 else (lambda obj: (getter(obj),))

    def copy(instance: Any, changes: dict[str, Any]) -> Any:
        return cls(**dict(zip(kept_aliases, values(instance), strict=True)), **changes)

    return copy
