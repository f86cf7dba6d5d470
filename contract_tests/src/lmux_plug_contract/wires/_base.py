"""The wire-format interface and the values the local server exchanges.

They live in ``lmux_plug.testing`` (the server core and the format interface), so the
contract suite and the fake servers of the project's own tests share one implementation.
"""

from __future__ import annotations

from lmux_plug.testing.wire_formats import Pieces
from lmux_plug.testing.wire_formats import StreamRendering
from lmux_plug.testing.wire_formats import Thoughts
from lmux_plug.testing.wire_formats import ToolUse
from lmux_plug.testing.wire_formats import WireFormat
from lmux_plug.testing.wire_formats import halves
from lmux_plug.testing.wire_formats import inline_data
from lmux_plug.testing.wire_formats import json_bytes
from lmux_plug.testing.wire_formats import last_user
from lmux_plug.testing.wire_formats import unknown_tool_choice
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply

__all__ = [
    "CapturedRequest",
    "Pieces",
    "Reply",
    "StreamRendering",
    "Thoughts",
    "ToolUse",
    "WireFormat",
    "halves",
    "inline_data",
    "json_bytes",
    "last_user",
    "unknown_tool_choice",
]
