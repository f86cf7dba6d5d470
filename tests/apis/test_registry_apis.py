"""Registry semantics of the Responses, completion and transcription APIs (through MockProvider)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import lmux_plug
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import CompletionChunk
from lmux_plug import CompletionRequest
from lmux_plug import InvalidRequestError
from lmux_plug import ModelPricing
from lmux_plug import PluginError
from lmux_plug import Registry
from lmux_plug import ResponseChunk
from lmux_plug import ResponseRequest
from lmux_plug import ResponseResponse
from lmux_plug import Tool
from lmux_plug import ToolCall
from lmux_plug import ToolChoiceFunction
from lmux_plug import ToolMessage
from lmux_plug import TranscriptionRequest
from lmux_plug import TranscriptionResponse
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage
from lmux_plug import hookimpl
from lmux_plug import per_million_tokens
from lmux_plug.testing import MockProvider

MODEL = "mock/mock-model"


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider()


@pytest.fixture
def registry(mock: MockProvider) -> Registry:
    registry = Registry(builtins=False)
    registry.register("mock", mock)
    return registry


# --------------------------------------------------------------------------- Responses


async def test_hook_create_response_gets_typed_request_and_params(
    registry: Registry, mock: MockProvider
) -> None:
    response = await registry.acreate_response(
        MODEL,
        "hello",
        instructions="be brief",
        tools=[
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "web_search"},
        ],
        tool_choice=ToolChoiceFunction("f"),
        reasoning={"effort": "low"},
        previous_response_id="resp_1",
        max_output_tokens=50,
        temperature=0.2,
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="k1",
        timeout=7.5,
        extra_headers={"x-trace": "1"},
        extra_body={"service_tier": "flex"},
        truncation="auto",
    )
    assert isinstance(response, ResponseResponse)
    assert response.output_text == "mock response"
    assert response.provider == "mock"
    request = mock.last_call.request
    assert isinstance(request, ResponseRequest)
    assert request.input == "hello"
    assert request.instructions == "be brief"
    assert isinstance(request.tools[0], Tool)
    assert request.tools[0].function.name == "f"
    assert request.tools[1] == {"type": "web_search"}
    assert request.tool_choice is not None
    assert request.tool_choice.function_name == "f"
    assert request.reasoning == {"effort": "low"}
    assert request.previous_response_id == "resp_1"
    assert request.max_output_tokens == 50
    assert request.store is False
    assert request.include == ("reasoning.encrypted_content",)
    assert request.prompt_cache_key == "k1"
    assert request.timeout == 7.5
    assert request.extra_headers == {"x-trace": "1"}
    assert request.extra == {"service_tier": "flex", "truncation": "auto"}


async def test_create_response_converts_messages_and_tool_results(
    registry: Registry, mock: MockProvider
) -> None:
    call = ToolCall(id="call_1", name="lookup", arguments='{"q": 1}')
    await registry.acreate_response(
        MODEL,
        [
            UserMessage("find it"),
            AssistantMessage(content=None, tool_calls=[call]),
            ToolMessage(content="42", tool_call_id="call_1"),
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA", "summary": []},
        ],
    )
    assert mock.last_call.request.input == (
        {"role": "user", "content": "find it"},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA", "summary": []},
    )


async def test_create_response_converts_chat_style_dict_messages(
    registry: Registry, mock: MockProvider, chat_style_turns: list[dict[str, Any]]
) -> None:
    """Messages written for Chat Completions go to the Responses wire in its own spelling."""
    # The last one is already Responses-style: sent as given.
    again = {"role": "user", "content": [{"type": "input_text", "text": "and now?"}]}
    await registry.acreate_response(MODEL, [*chat_style_turns, again])
    assert mock.last_call.request.input == (
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
            ],
        },
        {"type": "function_call", "call_id": "call_2", "name": "look", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "call_2", "output": "a cat"},
        again,
    )


async def test_response_output_round_trips_as_next_input(registry: Registry) -> None:
    call = ToolCall(id="call_9", name="f", arguments="{}")
    mock = MockProvider().enqueue([call])
    registry.register("m2", mock)
    first = await registry.acreate_response("m2/mock-model", "go")
    assert first.tool_calls == (call,)
    assert first.output == (call,)
    assert first.input_items == (
        {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"},
    )
    await registry.acreate_response(
        "m2/mock-model",
        [*first.output, {"type": "function_call_output", "call_id": "call_9", "output": "ok"}],
    )
    assert mock.last_call.request.input[0]["call_id"] == "call_9"


@pytest.mark.parametrize(
    "bad",
    [42, [], [{"content": "no role or type"}], [object()], b"bytes"],
)
async def test_create_response_rejects_bad_input_before_io(registry: Registry, bad: Any) -> None:
    mock = MockProvider()
    registry.register("strict", mock)
    with pytest.raises(InvalidRequestError):
        await registry.acreate_response("strict/mock-model", bad)
    assert mock.calls == []


async def test_response_format_becomes_text_format_and_needs_capability(
    registry: Registry, mock: MockProvider
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await registry.acreate_response(
        MODEL,
        "x",
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    )
    assert mock.last_call.request.text == {
        "format": {"type": "json_schema", "name": "s", "schema": schema, "strict": True}
    }
    limited = MockProvider(capabilities={Capability.RESPONSES})
    registry.register("lim", limited)
    with pytest.raises(UnsupportedFeatureError, match="json_schema"):
        await registry.acreate_response(
            "lim/mock-model", "x", text={"format": schema | {"type": "json_schema"}}
        )
    assert limited.calls == []


async def test_hook_create_response_stream_yields_events_and_final_response(
    registry: Registry,
) -> None:
    chunks = [c async for c in registry.acreate_response_stream(MODEL, "hi")]
    assert chunks[0].type == "response.created"
    assert "".join(c.delta for c in chunks) == "mock response"
    assert all(c.delta == "" for c in chunks if c.type != "response.output_text.delta")
    assert chunks[-1].type == "response.completed"
    assert isinstance(chunks[-1].response, ResponseResponse)
    assert chunks[-1].response.output_text == "mock response"


async def test_undeclared_capabilities_fail_before_io() -> None:
    mock = MockProvider(capabilities={Capability.CHAT, Capability.STREAM})
    registry = Registry(builtins=False)
    registry.register("c", mock)
    with pytest.raises(UnsupportedFeatureError, match="responses"):
        await registry.acreate_response("c/mock-model", "x")
    with pytest.raises(UnsupportedFeatureError, match="responses"):
        [c async for c in registry.acreate_response_stream("c/mock-model", "x")]
    with pytest.raises(UnsupportedFeatureError, match="completions"):
        await registry.acomplete("c/mock-model", "x")
    with pytest.raises(UnsupportedFeatureError, match="transcription"):
        await registry.atranscribe("c/mock-model", b"RIFF")
    no_stream = MockProvider(capabilities={Capability.TRANSCRIPTION, Capability.COMPLETIONS})
    registry.register("t", no_stream)
    with pytest.raises(UnsupportedFeatureError, match="stream"):
        [c async for c in registry.atranscribe_stream("t/mock-model", b"RIFF")]
    with pytest.raises(UnsupportedFeatureError, match="stream"):
        [c async for c in registry.acomplete_stream("t/mock-model", "x")]
    assert mock.calls == []
    assert no_stream.calls == []


async def test_response_cost_from_declared_pricing() -> None:
    pricing = ModelPricing(input=per_million_tokens("1"), output=per_million_tokens("2"))
    mock = MockProvider(pricing=pricing)
    registry = Registry(builtins=False)
    registry.register("p", mock)
    response = await registry.acreate_response("p/mock-model", "hello")
    assert response.cost is not None
    expected = (
        response.usage.input_tokens * pricing.input + response.usage.output_tokens * pricing.output
    )
    assert response.cost.total == expected
    last = [c async for c in registry.acreate_response_stream("p/mock-model", "hello")][-1]
    assert last.response is not None
    assert last.response.cost is not None
    assert last.cost == last.response.cost


async def test_plugin_bug_in_new_hook_is_a_plugin_error() -> None:
    class Broken(MockProvider):
        @hookimpl
        def lmux_plug_create_response(self, request: Any, provider: Any) -> Any:
            raise KeyError("oops")

    registry = Registry(builtins=False)
    registry.register("b", Broken())
    with pytest.raises(PluginError, match="KeyError"):
        await registry.acreate_response("b/mock-model", "x")


async def test_wrapper_plugins_see_the_new_hooks(registry: Registry) -> None:
    seen: list[str] = []

    class Tracer:
        @hookimpl(wrapper=True)
        def lmux_plug_create_response(self, request: Any, provider: Any) -> Any:
            seen.append(request.model)
            return (yield)

        @hookimpl(wrapper=True)
        def lmux_plug_transcribe(self, request: Any, provider: Any) -> Any:
            seen.append(request.filename)
            return (yield)

    registry.add_plugin(Tracer())
    await registry.acreate_response(MODEL, "x")
    await registry.atranscribe(MODEL, b"abc", filename="a.mp3")
    assert seen == ["mock-model", "a.mp3"]


# --------------------------------------------------------------------------- completions


async def test_hook_complete_passes_params(registry: Registry, mock: MockProvider) -> None:
    response = await registry.acomplete(
        MODEL, "Once upon", max_tokens=5, stop="\n", n=1, echo=False, extra_body={"top_k": 3}
    )
    assert response.text == "mock response"
    request = mock.last_call.request
    assert isinstance(request, CompletionRequest)
    assert request.prompt == "Once upon"
    assert request.stop == ("\n",)
    assert request.max_tokens == 5
    assert request.extra == {"top_k": 3}


@pytest.mark.parametrize("bad", [None, 3, [], [1, 2]])
async def test_complete_rejects_bad_prompt(registry: Registry, bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="prompt"):
        await registry.acomplete(MODEL, bad)


async def test_hook_complete_stream_has_one_terminal_chunk(registry: Registry) -> None:
    chunks = [c async for c in registry.acomplete_stream(MODEL, "x")]
    assert all(isinstance(c, CompletionChunk) for c in chunks)
    assert "".join(c.delta for c in chunks) == "mock response"
    assert [c for c in chunks if c.finish_reason is not None] == [chunks[-1]]
    assert chunks[-1].usage is not None


def test_sync_twins_and_module_functions(registry: Registry) -> None:
    assert registry.create_response(MODEL, "x").output_text == "mock response"
    assert registry.complete(MODEL, "x").text == "mock response"
    assert [c.type for c in registry.create_response_stream(MODEL, "x")][-1] == "response.completed"
    assert registry.transcribe(MODEL, b"\x00" * 10).text == "mock response"
    assert lmux_plug.create_response("echo/echo-1", "ping").output_text == "ping"
    assert lmux_plug.complete("echo/reverse", "abc").text == "cba"
    assert "".join(c.delta for c in lmux_plug.complete_stream("echo/echo-1", "a b")) == "a b"


# --------------------------------------------------------------------------- transcription


async def test_hook_transcribe_accepts_bytes_path_and_file(
    registry: Registry, mock: MockProvider, tmp_path: Path
) -> None:
    audio = b"RIFF....WAVEfmt "
    await registry.atranscribe(MODEL, audio, language="de", prompt="names", response_format="json")
    request = mock.last_call.request
    assert isinstance(request, TranscriptionRequest)
    assert request.audio == audio
    assert request.filename == "audio.wav"
    assert (request.language, request.prompt, request.response_format) == ("de", "names", "json")
    path = tmp_path / "talk.mp3"
    path.write_bytes(audio)
    await registry.atranscribe(MODEL, path)
    assert mock.last_call.request.filename == "talk.mp3"
    assert mock.last_call.request.media_type == "audio/mpeg"
    await registry.atranscribe(MODEL, str(path), filename="other.m4a")
    assert mock.last_call.request.filename == "other.m4a"
    with path.open("rb") as handle:
        await registry.atranscribe(MODEL, handle)
    assert mock.last_call.request.audio == audio
    assert mock.last_call.request.filename == "talk.mp3"
    await registry.atranscribe(MODEL, io.BytesIO(audio))
    assert mock.last_call.request.filename == "audio.wav"
    assert "bytes>" in repr(mock.last_call.request)  # audio bytes never flood a repr


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (b"", "empty"),
        (12, "bytes, a path or a binary file"),
        (io.StringIO("text"), "binary mode"),
        ("/no/such/file.wav", "does not exist"),
    ],
)
async def test_transcribe_rejects_bad_audio_before_io(
    registry: Registry, mock: MockProvider, audio: Any, match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        await registry.atranscribe(MODEL, audio)
    assert mock.calls == []


async def test_transcription_cost_from_per_minute_price() -> None:
    pricing = ModelPricing(input=0, output=0, per_minute="0.006")
    mock = MockProvider(pricing=pricing).enqueue(
        TranscriptionResponse(text="hi", model="mock-model", provider="t", duration=90.0)
    )
    registry = Registry(builtins=False)
    registry.register("t", mock)
    response = await registry.atranscribe("t/mock-model", b"x")
    assert response.cost is not None
    assert response.cost.total == Decimal("0.009")


async def test_hook_transcribe_stream_ends_with_response(registry: Registry) -> None:
    chunks = [c async for c in registry.atranscribe_stream(MODEL, b"abc")]
    assert "".join(c.delta for c in chunks) == "mock response"
    assert chunks[-1].type == "transcript.text.done"
    assert chunks[-1].response is not None


async def test_streams_release_the_plugin_iterator_on_early_exit(registry: Registry) -> None:
    closed: list[bool] = []

    class Slow(MockProvider):
        @hookimpl
        def lmux_plug_create_response_stream(self, request: Any, provider: Any) -> Any:
            return self._events()

        async def _events(self) -> AsyncIterator[ResponseChunk]:
            try:
                for i in range(100):
                    yield ResponseChunk(type="response.output_text.delta", delta=str(i))
            finally:
                closed.append(True)

    registry.register("slow", Slow())
    stream = registry.acreate_response_stream("slow/mock-model", "x")
    async for _ in stream:
        break
    await stream.aclose()
    assert closed == [True]
