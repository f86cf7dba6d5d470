"""The wire-format interface and the values the local server exchanges.

They live in ``lmux_plug.testing`` (the server core and the format interface), so the
contract suite and the fake servers of the project's own tests share one implementation;
this module re-exports them for the suite's wires under one name. Its names are
``wire_formats``' own list plus the two server values, so a name added there is here too.
"""

from __future__ import annotations

from lmux_plug.testing import wire_formats
from lmux_plug.testing.wire_formats import *  # noqa: F403 - re-exported: see __all__
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply

__all__ = ["CapturedRequest", "Reply"]
__all__ += wire_formats.__all__
