"""The canonical exchange every clause uses, so expected values are known exactly.

Synthesised traffic (the local wire server, synthesised cassettes) answers the canonical
requests with these values; a plugin that decodes them must produce exactly these numbers.
"""

from __future__ import annotations

import json

from lmux_plug import ToolCall
from lmux_plug import Usage

__all__ = [
    "CHAT_PROMPT",
    "EMBED_INPUTS",
    "EMBED_INPUTS_WITH_EMPTY",
    "LONG_TEXT",
    "MIXED_CASE_MODEL",
    "SENTINEL_KEY",
    "SEVERAL_CALLS",
    "SEVERAL_CALL_PIECES",
    "STREAM_ERROR_MESSAGE",
    "TEXT",
    "TEXT_PIECES",
    "TIME_TOOL",
    "TOOL_ARGUMENT_PIECES",
    "TOOL_CALL",
    "TOOL_PROMPT",
    "USAGE",
    "WEATHER_TOOL",
    "expected_vector",
]

# Multi-byte on purpose: two-, three- and four-byte UTF-8 sequences, so splitting the byte
# stream inside a character (as networks do) is exercised on every wire.
TEXT_PIECES = ("Héllo", " from", " the", " contract", " suite ✓ 日本 🚀.")
TEXT = "".join(TEXT_PIECES)
USAGE = Usage(input_tokens=12, output_tokens=7)
CHAT_PROMPT = "Say hello to the contract suite."
TOOL_PROMPT = "What is the weather in Paris?"
TOOL_ARGUMENT_PIECES = ('{"ci', 'ty": ', '"Par', 'is"}')
TOOL_CALL = ToolCall(
    id="call_contract_1", name="get_weather", arguments="".join(TOOL_ARGUMENT_PIECES)
)
TOOL_ARGUMENTS = json.loads(TOOL_CALL.arguments)
#: An answer that calls two tools (``tools.several_calls``): each call must keep its own
#: place, id, name and arguments. The second call's arguments are multi-byte.
SEVERAL_CALLS = (
    TOOL_CALL,
    ToolCall(id="call_contract_2", name="get_time", arguments='{"city": "Tōkyō"}'),
)
SEVERAL_CALL_PIECES = (TOOL_ARGUMENT_PIECES, ('{"city"', ': "Tō', 'kyō"}'))
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
#: A second tool, so a tool choice that names one function is told apart from "required".
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
EMBED_INPUTS = ("first input", "the sécond input ✓", "3rd")
#: Embedding inputs with an empty string among them: one vector each, still in order.
EMBED_INPUTS_WITH_EMPTY = ("", "not empty", "")
#: A model id with capitals and slashes: it must reach the provider byte for byte.
MIXED_CASE_MODEL = "Org-Name/Family/Model-V1.5-MixedCase"
#: Long enough to cross every read buffer and line limit a decoder might have (~200 KB).
LONG_TEXT = "Long ✓ answer. " * 12_000
#: A message the suite puts in injected stream error events; it must reach the exception.
#: It names "the model" as busy-server messages do, so a plugin that guesses the error class
#: from words of the message (a missing model) rather than from the event is caught.
STREAM_ERROR_MESSAGE = "contract-suite stream error: the model is busy, slow down ✓ (7f3a)"
# A key that looks like a real one, so leak checks and secret scanners both see it; it is
# only ever sent to servers on 127.0.0.1 or into cassettes that must scrub it.
SENTINEL_KEY = "lmuxcontract-0sentinel0key0do0not0leak0"


def expected_vector(text: str, index: int) -> tuple[float, ...]:
    """The vector synthesised for input ``index``: it encodes the text and its position."""
    return (float(len(text)), float(index), 0.5)
