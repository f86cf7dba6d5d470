"""The clause registry: ``@clause("family.check")`` marks a test method as a named clause.

Kept apart from :mod:`lmux_plug_contract.contract` so clause modules it builds on (such as
:mod:`lmux_plug_contract.apis_contract`) can use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

import pytest

__all__ = ["CLAUSES", "clause"]

F = TypeVar("F", bound=Callable[..., Any])

#: Every clause id with its one-line description (the first line of its docstring).
CLAUSES: dict[str, str] = {}


def clause(name: str) -> Callable[[F], F]:
    """Mark a test method as the clause ``name`` (``family.check``) and register its doc."""

    def mark(function: F) -> F:
        CLAUSES[name] = (function.__doc__ or "").strip().splitlines()[0]
        return pytest.mark.lmux_clause(name)(function)  # type: ignore[no-any-return]

    return mark
