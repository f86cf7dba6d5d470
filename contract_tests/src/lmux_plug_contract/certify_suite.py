"""The test module ``lmux-plug certify`` runs: the whole contract for ``--lmux-certify`` names."""

from __future__ import annotations

from lmux_plug_contract.contract import ProviderContract

__all__ = ["TestCertify"]


class TestCertify(ProviderContract):
    """Certify the providers named by ``--lmux-certify``."""
