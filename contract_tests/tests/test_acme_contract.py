"""The suite on a correct HTTP plugin (OpenAI wire): every clause passes or is undeclared."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from lmux_plug_contract import ProviderContract

_spec = importlib.util.spec_from_file_location(
    "lmux_contract_examples_acme", Path(__file__).parent / "broken" / "acme.py"
)
assert _spec is not None and _spec.loader is not None
acme = sys.modules.setdefault("lmux_contract_examples_acme", importlib.util.module_from_spec(_spec))
if not hasattr(acme, "AcmePlugin"):
    _spec.loader.exec_module(acme)


class TestAcmeContract(ProviderContract):
    provider = "acme"
    plugin = acme.AcmePlugin()
