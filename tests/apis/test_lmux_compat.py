"""lmux compatibility: exported names, runtime-checkable protocols, lmux-style providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import pytest

import lmux_plug
from lmux_plug import AsyncCloseable
from lmux_plug import AuthProvider
from lmux_plug import Capability
from lmux_plug import CompletionProvider
from lmux_plug import EmbeddingProvider
from lmux_plug import FinishReason
from lmux_plug import FunctionCallDelta
from lmux_plug import FunctionCallResult
from lmux_plug import ModelPricing
from lmux_plug import PricingProvider
from lmux_plug import Registry
from lmux_plug import ResponseResponse
from lmux_plug import ResponsesProvider
from lmux_plug import ToolChoiceFunction
from lmux_plug import UnsupportedFeatureError
from lmux_plug.testing import MockProvider

PROTOCOLS = (
    CompletionProvider,
    EmbeddingProvider,
    ResponsesProvider,
    PricingProvider,
    AuthProvider,
    AsyncCloseable,
)


def test_lmux_names_are_exported() -> None:
    assert ToolChoiceFunction("f").to_tool_choice().function_name == "f"
    assert FunctionCallResult("f", '{"a":1}').arguments == '{"a":1}'
    assert FunctionCallDelta(arguments='{"a"').name is None
    assert lmux_plug.ResponseResponse is ResponseResponse
    assert lmux_plug.protocols.ResponsesProvider is ResponsesProvider


def test_mock_provider_implements_every_protocol() -> None:
    mock = MockProvider()
    assert all(isinstance(mock, protocol) for protocol in PROTOCOLS)


def test_protocols_reject_objects_without_the_methods() -> None:
    assert not any(isinstance(object(), protocol) for protocol in PROTOCOLS)
    registry = Registry()
    assert isinstance(registry, CompletionProvider)
    assert isinstance(registry, ResponsesProvider)
    assert not isinstance(registry, PricingProvider)


async def test_mock_provider_lmux_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    mock = MockProvider()
    mock.enqueue("one", "two", "three")
    assert (await mock.achat("mock-model", [{"role": "user", "content": "hi"}])).content == "one"
    streamed = [c.delta async for c in mock.achat_stream("mock-model", "hi")]
    assert "".join(streamed) == "two"
    assert (await mock.acreate_response("mock-model", "x")).output_text == "three"
    assert len((await mock.aembed("mock-model", ["a", "b"])).embeddings) == 2
    mock.register_pricing("mock-model", ModelPricing(input="0.001", output="0.002"))
    priced = await mock.achat("mock-model", "hello")
    assert priced.cost is not None
    assert priced.cost.total > Decimal(0)
    assert mock.get_credentials().api_key is None
    await mock.aclose()
    keyed = MockProvider(api_key_env="LMUX_COMPAT_TEST_KEY")
    monkeypatch.setenv("LMUX_COMPAT_TEST_KEY", "test-compat-key")
    credentials = await keyed.aget_credentials()
    assert credentials.api_key is not None
    assert credentials.api_key.reveal() == "test-compat-key"


# --------------------------------------------------------------------------- lmux-style provider


@dataclass
class _Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int | None = None


@dataclass
class _Function:
    name: str
    arguments: str


@dataclass
class _ToolCall:
    id: str
    function: _Function
    type: str = "function"


@dataclass
class _ChatResponse:
    content: str | None
    usage: _Usage
    cost: Any
    model: str
    provider: str
    tool_calls: list[_ToolCall] | None = None
    finish_reason: str | None = None


@dataclass
class _ChatChunk:
    delta: str | None = None
    finish_reason: str | None = None
    usage: _Usage | None = None


@dataclass
class _Cost:
    input_cost: float
    output_cost: float
    total_cost: float


@dataclass
class LmuxStyleProvider:
    """Written against lmux's protocols only: no lmux-plug hooks."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def chat(self, model: str, messages: Any, **kwargs: Any) -> _ChatResponse:
        raise NotImplementedError

    async def achat(self, model: str, messages: Any, **kwargs: Any) -> _ChatResponse:
        self.calls.append((model, kwargs))
        if kwargs.get("tools"):
            call = _ToolCall("call_1", _Function("lookup", '{"q": 1}'))
            return _ChatResponse(None, _Usage(5, 2), None, model, "x", [call], "tool_calls")
        return _ChatResponse(
            f"echo {messages[-1].content}", _Usage(5, 3, 2), _Cost(0.5, 0.25, 0.75), model, "x"
        )

    def chat_stream(self, model: str, messages: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def achat_stream(
        self, model: str, messages: Any, **kwargs: Any
    ) -> AsyncIterator[_ChatChunk]:
        yield _ChatChunk(delta="a")
        yield _ChatChunk(delta="b", finish_reason="stop")
        yield _ChatChunk(usage=_Usage(1, 2))

    def embed(self, model: str, input: Any, **kwargs: Any) -> Any:  # noqa: A002
        raise NotImplementedError

    async def aembed(self, model: str, input: Any, **kwargs: Any) -> Any:  # noqa: A002
        return type(
            "E", (), {"embeddings": [[1.0, 0.0] for _ in input], "usage": _Usage(len(input), 0)}
        )()


def test_mock_provider_sync_lmux_methods() -> None:
    mock = MockProvider().enqueue("one", "two")
    try:
        assert mock.chat("mock-model", "hi").content == "one"
        assert mock.create_response("mock-model", "hi").output_text == "two"
        assert [c.finish_reason for c in mock.chat_stream("mock-model", "x")][
            -1
        ] is FinishReason.STOP
    finally:
        mock.close()


async def test_register_wraps_an_lmux_style_provider() -> None:
    provider = LmuxStyleProvider()
    registry = Registry(builtins=False)
    registry.register("legacy", provider)
    spec = registry.provider("legacy")
    assert Capability.CHAT in spec.capabilities
    assert Capability.EMBED in spec.capabilities
    assert Capability.RESPONSES not in spec.capabilities
    answer = await registry.achat("legacy/some-model", "hello", temperature=0.3, top_k=5)
    assert answer.content == "echo hello"
    assert answer.usage.cache_read_tokens == 2
    assert answer.cost is not None
    assert answer.cost.total == Decimal("0.75")
    assert provider.calls[-1] == (
        "some-model",
        {"temperature": 0.3, "provider_params": {"top_k": 5}},
    )
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    called = await registry.achat("legacy/m", "use it", tools=tools)
    assert called.finish_reason is FinishReason.TOOL_CALLS
    assert called.tool_calls[0].name == "lookup"
    chunks = [c async for c in registry.achat_stream("legacy/m", "x")]
    assert "".join(c.delta for c in chunks) == "ab"
    assert [c.finish_reason for c in chunks if c.finish_reason] == [FinishReason.STOP]
    vectors = await registry.aembed("legacy/e", ["a", "b"])
    assert vectors.embeddings == ((1.0, 0.0), (1.0, 0.0))
    with pytest.raises(UnsupportedFeatureError):
        await registry.acreate_response("legacy/m", "x")
