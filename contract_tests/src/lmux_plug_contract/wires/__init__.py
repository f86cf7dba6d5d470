"""Wire formats the suite can speak: render canonical answers, errors and faults.

A :class:`WireFormat` renders, in one provider's real wire format, what the local wire
server sends: a chat answer, a streamed answer (as separate event frames, so the suite can
split and truncate them), a streamed tool call, embeddings, an HTTP error body and an
error event inside a stream. The suite knows ``openai``, ``anthropic``, ``gemini`` and
``ollama``; a plugin with another wire supplies its own in ``ContractFixtures(wire=...)``.
"""

from __future__ import annotations

from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import ToolUse
from lmux_plug_contract.wires._base import WireFormat
from lmux_plug_contract.wires._said import Said
from lmux_plug_contract.wires._said import SaidKind
from lmux_plug_contract.wires.anthropic import AnthropicWire
from lmux_plug_contract.wires.bedrock import BedrockWire
from lmux_plug_contract.wires.cohere import CohereWire
from lmux_plug_contract.wires.gemini import GeminiWire
from lmux_plug_contract.wires.ollama import OllamaWire
from lmux_plug_contract.wires.openai import OpenAIWire
from lmux_plug_contract.wires.vertex_ai import VertexAIWire

__all__ = [
    "WIRES",
    "AnthropicWire",
    "BedrockWire",
    "CapturedRequest",
    "CohereWire",
    "GeminiWire",
    "OllamaWire",
    "OpenAIWire",
    "Reply",
    "Said",
    "SaidKind",
    "StreamRendering",
    "ToolUse",
    "VertexAIWire",
    "WireFormat",
    "wire_for",
]

WIRES: dict[str, WireFormat] = {
    "openai": OpenAIWire(),
    "anthropic": AnthropicWire(),
    "gemini": GeminiWire(),
    "ollama": OllamaWire(),
    "cohere": CohereWire(),
    "bedrock": BedrockWire(),
    "vertex_ai": VertexAIWire(),
}


def wire_for(name: str) -> WireFormat | None:
    """The built-in wire format called ``name``, if the suite knows it."""
    return WIRES.get(name)
