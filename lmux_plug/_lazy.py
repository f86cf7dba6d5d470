"""A module's names imported on first use, for code on the import and discovery path.

``import lmux_plug`` and plugin discovery only need the declaration types; the call types,
the converters and the HTTP transport are loaded by the first call. A function-local
``from x import y`` costs about 2 µs per call, too much on the dispatch path, so modules
that need such names at call time hold a :class:`LazyModule` instead: the first attribute
read imports the module, and the value is then cached on the proxy, so later reads cost
what a module attribute costs.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LazyModule"]


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
