"""The contract suite on every provider plugin of this repository, replayed from ``cassettes/``.

The cassettes were synthesised against the local wire server (their header says so), so
the clauses check exact values; run with ``--lmux-record synthesise`` to regenerate them.
"""

from __future__ import annotations

import warnings

import pytest
from lmux_plug import Registry

from lmux_plug_contract import ProviderContract

IN_REPO = ("openai", "anthropic", "gemini", "ollama")


def _installed() -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry.from_entry_points(builtins=False)
    try:
        declared = {spec.name for spec in registry.providers()}
    finally:
        registry.close()
    return [name for name in IN_REPO if name in declared]


INSTALLED = _installed()
if not INSTALLED:
    pytest.skip("none of the in-repo provider plugins is installed", allow_module_level=True)


class TestInRepoPlugins(ProviderContract):
    provider = INSTALLED
