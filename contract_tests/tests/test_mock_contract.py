"""The contract suite run directly on the core's MockProvider and echo provider: both must pass."""

from __future__ import annotations

from lmux_plug import ToolCall
from lmux_plug.testing import MockCall
from lmux_plug.testing import MockProvider

from lmux_plug_contract import ProviderContract


def _answer(call: MockCall) -> object:
    # Scripted like a model that calls the offered tool; plain text otherwise.
    tools = getattr(call.request, "tools", None)
    if tools:
        return ToolCall(id="call_1", name=tools[0].function.name, arguments='{"city": "Paris"}')
    return None


class TestMockProviderContract(ProviderContract):
    provider = "mock"
    plugin = MockProvider("mock", handler=_answer)


class TestEchoContract(ProviderContract):
    provider = "echo"
