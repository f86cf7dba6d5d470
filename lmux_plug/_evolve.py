"""``evolve``: a copy of a frozen attrs instance with some fields changed, for hot paths.

``attrs.evolve`` looks the class's fields up again on every call, which costs about as much
as building the instance. Here the field list is worked out once per (class, changed names).
Frozen answers are never changed in place (no ``object.__setattr__``): a changed answer is
a new instance.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["evolve"]

_T = TypeVar("_T", bound=attrs.AttrsInstance)
_COPIERS: dict[tuple[type, tuple[str, ...]], tuple[tuple[str, ...], Callable[[Any], Any]]] = {}


def evolve(instance: _T, **changes: Any) -> _T:
    """``attrs.evolve(instance, **changes)``, with the field list cached per class."""
    cls = type(instance)
    key = (cls, tuple(changes))
    copier = _COPIERS.get(key)
    if copier is None:
        fields = [f for f in attrs.fields(cls) if f.init and f.name not in changes]
        names = [f.name for f in fields]
        getter = operator.attrgetter(*names)
        # attrgetter of one name returns the value itself, not a 1-tuple.
        values = getter if len(names) > 1 else (lambda obj: (getter(obj),))
        copier = _COPIERS[key] = (tuple(f.alias for f in fields), values)
    aliases, values = copier
    return cls(**dict(zip(aliases, values(instance), strict=True)), **changes)
