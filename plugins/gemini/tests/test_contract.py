"""Certify the gemini plugin with the shared contract suite (lmux-plug-contract)."""

from __future__ import annotations

import lmux_plug_gemini
from lmux_plug_contract import ProviderContract


class TestGeminiContract(ProviderContract):
    provider = "gemini"
    plugin = lmux_plug_gemini
