"""Certify the plugin with the shared contract suite (lmux-plug-contract), offline.

The suite serves each provider's wire from its own 127.0.0.1 server, so this runs without
keys or network. ``openai`` covers the OpenAI dialect (reasoning models, developer role);
``groq`` and ``mistral`` cover two declared dialects; ``vllm`` a local server without a key.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lmux_plug_contract")

import lmux_plug_openai
from lmux_plug_contract import ProviderContract


class TestOpenAIContract(ProviderContract):
    provider = ("openai", "groq", "mistral", "vllm")
    plugin = lmux_plug_openai
