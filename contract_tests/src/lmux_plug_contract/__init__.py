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

import importlib
from typing import TYPE_CHECKING
from typing import Any

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

_HOMES = {
    "CLAUSES": "lmux_plug_contract.contract",
    "ERROR_EXPECTATIONS": "lmux_plug_contract.contract",
    "ProviderContract": "lmux_plug_contract.contract",
    "clause": "lmux_plug_contract.contract",
    "ContractFixtures": "lmux_plug_contract.fixtures",
    "CapturedRequest": "lmux_plug_contract.wires",
    "Reply": "lmux_plug_contract.wires",
    "StreamRendering": "lmux_plug_contract.wires",
    "WireFormat": "lmux_plug_contract.wires",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module 'lmux_plug_contract' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
