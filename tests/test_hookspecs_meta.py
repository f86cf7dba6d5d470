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


def test_the_hooks_exist() -> None:
    assert HOOKS == [
        "lmux_plug_auth",
        "lmux_plug_chat",
        "lmux_plug_complete",
        "lmux_plug_complete_stream",
        "lmux_plug_create_response",
        "lmux_plug_create_response_stream",
        "lmux_plug_embed",
        "lmux_plug_pricing",
        "lmux_plug_providers",
        "lmux_plug_stream",
        "lmux_plug_transcribe",
        "lmux_plug_transcribe_stream",
        "lmux_plug_wires",
    ]


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
