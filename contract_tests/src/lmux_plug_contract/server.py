"""The local wire server the suite answers from: :class:`lmux_plug.testing.wire_server.WireServer`.

One server for the contract suite and the project's fake servers. The suite uses it as it
comes (no keep-alive: every answer closes its connection), in its own thread, so it serves
the sync API (which blocks the calling thread) as well as async callers. Each request is
answered by the current *scenario* (:meth:`WireServer.serve`).
"""

from __future__ import annotations

from lmux_plug.testing.wire_server import HANG_LIMIT
from lmux_plug.testing.wire_server import Scenario
from lmux_plug.testing.wire_server import WireServer

__all__ = ["HANG_LIMIT", "Scenario", "WireServer"]
