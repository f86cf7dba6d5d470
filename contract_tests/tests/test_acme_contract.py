"""The suite on a correct HTTP plugin (OpenAI wire): every clause passes or is undeclared."""

from __future__ import annotations

import sys

from lmux_plug_contract import ProviderContract

acme = sys.modules["lmux_contract_examples_acme"]  # loaded by this folder's conftest


class TestAcmeContract(ProviderContract):
    provider = "acme"
    plugin = acme.AcmePlugin()
