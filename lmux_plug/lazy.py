"""Names imported on first use, for code on the import and discovery path.

``import lmux_plug`` and plugin discovery only need the declaration types; the call types,
the converters and the HTTP transport are loaded by the first call. Two tools keep it so:

* :func:`lazy_exports` gives a package PEP 562 ``__getattr__`` and ``__dir__`` functions
  that import each public name from its home module when it is first read (the core's
  ``lmux_plug.resilience`` and ``lmux_plug.gateway``, the contract suite's package);
* :class:`LazyModule` stands for a module that code needs at call time. A function-local
  ``from x import y`` costs about 2 µs per call, too much on the dispatch path; the proxy
  imports the module on the first attribute read and then caches the value, so later reads
  cost what a module attribute costs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

__all__ = ["LazyModule", "lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 ``(__getattr__, __dir__)`` for ``package``, whose names live in ``homes``.

    ``homes`` maps each lazily exported name to the module that defines it, absolute or
    relative to ``package`` (``".clock"``). The first read of a name imports its home and
    binds the value in ``package``, so later reads are plain attribute reads; any other
    name raises :class:`AttributeError` as a module does. Use it as::

        __getattr__, __dir__ = lazy_exports(__name__, {"Limiter": ".limiter"})

    Declare the names under ``TYPE_CHECKING`` too, so type checkers see them.
    """

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return getattr_, dir_


class LazyModule:
    """Stands for the module ``name``, imported when one of its attributes is first read.

    Declare the real module for type checkers under ``TYPE_CHECKING`` and bind this at run
    time, so attribute reads stay typed.
    """

    def __init__(self, name: str) -> None:
        self.__name = name

    def __getattr__(self, attribute: str) -> Any:
        # Only called for names not cached yet (and never for the proxy's own name).
        value = getattr(importlib.import_module(self.__name), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"LazyModule({self.__name!r})"
