"""lmux-plug-contract: certify any lmux-plug provider plugin against the core's contract.

One subclass per plugin::

    from lmux_plug_contract import ProviderContract

    class TestAcme(ProviderContract):
        provider = "acme"

or one command: ``lmux-plug certify acme``. A plugin whose wire the suite does not know
declares ``CONTRACT = ContractFixtures(wire=MyWire())`` in its module. See docs/certify.md.

The names below are imported lazily: importing the package (as ``lmux-plug certify`` does
before pytest starts) must not import the clause module, or pytest could no longer rewrite
its assertions into messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug.lazy import lazy_exports

if TYPE_CHECKING:
    from lmux_plug_contract.contract import CLAUSES
    from lmux_plug_contract.contract import ERROR_EXPECTATIONS
    from lmux_plug_contract.contract import ProviderContract
    from lmux_plug_contract.contract import clause
    from lmux_plug_contract.fixtures import ContractFixtures
    from lmux_plug_contract.wires import CapturedRequest
    from lmux_plug_contract.wires import Reply
    from lmux_plug_contract.wires import StreamRendering
    from lmux_plug_contract.wires import WireFormat

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CLAUSES": ".contract",
        "ERROR_EXPECTATIONS": ".contract",
        "ProviderContract": ".contract",
        "clause": ".contract",
        "ContractFixtures": ".fixtures",
        "CapturedRequest": ".wires",
        "Reply": ".wires",
        "StreamRendering": ".wires",
        "WireFormat": ".wires",
    },
)
