"""Certification by the shared contract suite (``lmux-plug-contract``), one class."""

from __future__ import annotations

import pytest

contract = pytest.importorskip("lmux_plug_contract", reason="lmux-plug-contract is not installed")


class TestAnthropicContract(contract.ProviderContract):
    provider = "anthropic"
