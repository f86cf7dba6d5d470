"""Meta-tests: every hookspec is documented with its exact signature and has a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import lmux_plug
from lmux_plug import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("lmux_plug_"))


def _signature(name: str) -> str:
    function = getattr(hookspecs, name)
    parameters = ", ".join(
        f"{p.name}: {p.annotation}" for p in inspect.signature(function).parameters.values()
    )
    return f"{name}({parameters}) -> {inspect.signature(function).return_annotation}"


def test_the_hooks_are_exported_and_none_is_documented_that_does_not_exist() -> None:
    # The list is the module's own ``__all__``; the next test ties each hook to its docs, and
    # this one the docs' hook headings back to the hooks (no stale or misspelt heading).
    assert [name for name in hookspecs.__all__ if name.startswith("lmux_plug_")] == HOOKS
    docs = (ROOT / "docs" / "plugin-authors.md").read_text()
    documented = sorted(re.findall(r"^### `(lmux_plug_\w+)\(", docs, flags=re.MULTILINE))
    assert documented == HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    docs = (ROOT / "docs" / "plugin-authors.md").read_text()
    assert f"### `{_signature(name)}`" in docs, f"docs/plugin-authors.md lacks {_signature(name)}"
    assert getattr(hookspecs, name).__doc__


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_dedicated_test(name: str) -> None:
    short = name.removeprefix("lmux_plug_")
    pattern = re.compile(rf"def test_hook_{short}\w*\(")
    sources = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py")]
    assert any(pattern.search(source) for source in sources), f"no test_hook_{short}* test"


def test_public_all_is_sorted_and_complete() -> None:
    public = sorted(lmux_plug.__all__)
    assert lmux_plug.__all__ == public
    for name in public:
        assert getattr(lmux_plug, name) is not None
    exported_types = {
        name
        for name, value in vars(lmux_plug).items()
        if inspect.isclass(value)
        and value.__module__.startswith("lmux_plug")
        and not name.startswith("_")
    }
    assert exported_types <= set(public), exported_types - set(public)
