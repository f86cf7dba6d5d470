"""The canonical exchange every clause uses, so expected values are known exactly.

Synthesised traffic (the local wire server, synthesised cassettes) answers the canonical
requests with these values; a plugin that decodes them must produce exactly these numbers.
"""

from __future__ import annotations

import json

from lmux_plug import ToolCall, Usage

__all__ = [
    "CHAT_PROMPT",
    "EMBED_INPUTS",
    "SENTINEL_KEY",
    "TEXT",
    "TEXT_PIECES",
    "TOOL_ARGUMENT_PIECES",
    "TOOL_CALL",
    "TOOL_PROMPT",
    "USAGE",
    "WEATHER_TOOL",
    "expected_vector",
]

TEXT_PIECES = ("Hello", " from", " the", " contract", " suite.")
TEXT = "".join(TEXT_PIECES)
USAGE = Usage(input_tokens=12, output_tokens=7)
CHAT_PROMPT = "Say hello to the contract suite."
TOOL_PROMPT = "What is the weather in Paris?"
TOOL_ARGUMENT_PIECES = ('{"ci', 'ty": ', '"Par', 'is"}')
TOOL_CALL = ToolCall(
    id="call_contract_1", name="get_weather", arguments="".join(TOOL_ARGUMENT_PIECES)
)
TOOL_ARGUMENTS = json.loads(TOOL_CALL.arguments)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
EMBED_INPUTS = ("first input", "the second input", "3rd")
# A key that looks like a real one, so leak checks and secret scanners both see it; it is
# only ever sent to servers on 127.0.0.1 or into cassettes that must scrub it.
SENTINEL_KEY = "lmuxcontract-0sentinel0key0do0not0leak0"


def expected_vector(text: str, index: int) -> tuple[float, ...]:
    """The vector synthesised for input ``index``: it encodes the text and its position."""
    return (float(len(text)), float(index), 0.5)
