"""Certify the cohere plugin with the shared contract suite (lmux-plug-contract)."""

from __future__ import annotations

import lmux_plug_cohere
from lmux_plug_contract import ProviderContract


class TestCohereContract(ProviderContract):
    provider = "cohere"
    plugin = lmux_plug_cohere
