"""lmux-plug-contract: certify any lmux-plug provider plugin against the core's contract.

One subclass per plugin::

    from lmux_plug_contract import ProviderContract

    class TestAcme(ProviderContract):
        provider = "acme"

or one command: ``lmux-plug certify acme``. A plugin whose wire the suite does not know
declares ``CONTRACT = ContractFixtures(wire=MyWire())`` in its module. See docs/certify.md.
"""

from __future__ import annotations

from lmux_plug_contract.contract import CLAUSES, ERROR_EXPECTATIONS, ProviderContract, clause
from lmux_plug_contract.fixtures import ContractFixtures
from lmux_plug_contract.wires import CapturedRequest, Reply, StreamRendering, WireFormat

__all__ = [
    "CLAUSES",
    "ERROR_EXPECTATIONS",
    "CapturedRequest",
    "ContractFixtures",
    "ProviderContract",
    "Reply",
    "StreamRendering",
    "WireFormat",
    "clause",
]
