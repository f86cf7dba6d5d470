"""A correct plugin whose real stream opens with an SSE keep-alive comment is certified.

Real APIs send ``: ping`` / ``: OPENROUTER PROCESSING`` comments before (and between)
events. A custom wire that renders them must not make the fault-injecting clauses corrupt
the wrong frame: the suite edits only the frame that carries the first text piece.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lmux_plug import Usage

from lmux_plug_contract import ContractFixtures
from lmux_plug_contract import ProviderContract
from lmux_plug_contract import StreamRendering
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import OpenAIWire

acme = sys.modules["lmux_contract_examples_acme"]  # loaded by this folder's conftest


class KeepAliveWire(OpenAIWire):
    """The OpenAI wire as some gateways send it: comments first and between events."""

    name = "openai-keepalive"

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        rendering = super().stream(request, pieces, usage)
        frames = [b": ping\n\n", b": PROCESSING\n\n"]
        for frame in rendering.frames:
            frames += [frame, b": ping\n\n"] if frame is rendering.frames[1] else [frame]
        return StreamRendering(rendering.content_type, tuple(frames), rendering.terminal)


def test_the_wire_really_opens_with_comments() -> None:
    probe = CapturedRequest("POST", "/", {}, {}, b'{"model": "m"}')
    frames = KeepAliveWire().stream(probe, ("a", "b"), Usage()).frames
    assert frames[0] == b": ping\n\n" and frames[1] == b": PROCESSING\n\n"


class TestKeepAliveWireContract(ProviderContract):
    provider = "acme"
    plugin = acme.AcmePlugin()
    contract_fixtures = ContractFixtures(wire=KeepAliveWire())
