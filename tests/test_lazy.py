"""``lmux_plug.lazy.lazy_exports``: the PEP 562 functions of the lazily exporting packages."""

from __future__ import annotations

import sys
import types

import lmux_plug_contract
import pytest

import lmux_plug.gateway
import lmux_plug.resilience
from lmux_plug.lazy import lazy_exports


def _package(monkeypatch: pytest.MonkeyPatch, homes: dict[str, str]) -> types.ModuleType:
    module = types.ModuleType("lazy_demo")
    monkeypatch.setitem(sys.modules, "lazy_demo", module)
    module.__getattr__, module.__dir__ = lazy_exports("lazy_demo", homes)  # type: ignore[method-assign]
    return module


def test_a_name_is_imported_from_its_home_on_first_read_and_then_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import textwrap

    module = _package(monkeypatch, {"dedent": "textwrap"})
    assert "dedent" not in vars(module)
    assert module.dedent is textwrap.dedent
    # Bound in the package: later reads no longer go through ``__getattr__``.
    assert vars(module)["dedent"] is textwrap.dedent


def test_an_unknown_name_raises_attribute_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = _package(monkeypatch, {"dedent": "textwrap"})
    with pytest.raises(AttributeError, match=r"module 'lazy_demo' has no attribute 'missing'"):
        _ = module.missing
    # ``getattr`` with a default (as ``hasattr`` and ``from x import y`` rely on) still works.
    assert getattr(module, "missing", None) is None


def test_dir_lists_the_lazy_names_before_they_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _package(monkeypatch, {"dedent": "textwrap", "indent": "textwrap"})
    listed = dir(module)
    assert {"dedent", "indent"} <= set(listed)
    assert listed == sorted(listed)


@pytest.mark.parametrize("package", [lmux_plug.resilience, lmux_plug.gateway, lmux_plug_contract])
def test_every_exported_name_of_the_lazy_packages_resolves(package: types.ModuleType) -> None:
    # A relative home (".clock") is resolved against the package that declares it.
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))
