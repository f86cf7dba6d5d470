"""Certify the ollama plugin with the shared contract suite (lmux-plug-contract)."""

from __future__ import annotations

import lmux_plug_ollama
from lmux_plug_contract import ProviderContract


class TestOllamaContract(ProviderContract):
    provider = "ollama"
    plugin = lmux_plug_ollama
