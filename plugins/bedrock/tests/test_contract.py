"""Certify the bedrock plugin with the shared contract suite (lmux-plug-contract)."""

from __future__ import annotations

import lmux_plug_bedrock
from lmux_plug_contract import ProviderContract


class TestBedrockContract(ProviderContract):
    provider = "bedrock"
    plugin = lmux_plug_bedrock
