"""The drop-in client (lmux_plug.openai) against the mock provider.

Shapes are checked with the official ``openai`` package's own types: every object the
drop-in returns must validate as the ``openai`` type and read the same attributes.
"""

from __future__ import annotations

import json

import openai.types
import openai.types.chat
import pytest

from lmux_plug import ChatChunk
from lmux_plug import FinishReason
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import Registry
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import Usage
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.openai import AsyncOpenAI
from lmux_plug.openai import ChatCompletion
from lmux_plug.openai import Embedding
from lmux_plug.openai import OpenAI
from lmux_plug.testing import MockProvider
from tests.helpers import HI
from tests.helpers import WEATHER_TOOL


@pytest.fixture
def registry():
    registry = Registry()
    yield registry
    registry.close()


@pytest.fixture
def mock(registry):
    mock = MockProvider("mock")
    registry.register("mock", mock)
    return mock


@pytest.fixture
def client(registry, mock):
    return OpenAI(registry=registry)


def test_chat_has_openai_shape(client, mock):
    mock.enqueue("hello there")
    response = client.chat.completions.create(model="mock/m1", messages=HI, temperature=0.2)
    assert response.choices[0].message.content == "hello there"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == 1
    assert (
        response.usage.total_tokens
        == response.usage.prompt_tokens + response.usage.completion_tokens
    )
    assert response.object == "chat.completion"
    assert response.model == "mock/m1"
    assert response.id.startswith("chatcmpl-")
    # The official type accepts the dump and reads the same values.
    official = openai.types.chat.ChatCompletion.model_validate(response.model_dump())
    assert official.choices[0].message.content == "hello there"
    assert official.usage is not None
    assert official.usage.completion_tokens == response.usage.completion_tokens
    assert (
        json.loads(response.model_dump_json())["choices"][0]["message"]["content"] == "hello there"
    )
    assert mock.last_call.model == "m1"
    assert mock.last_call.params["temperature"] == 0.2
    # The lmux-plug answer stays reachable but is not part of the OpenAI shape.
    assert response.lmux_response.provider == "mock"
    assert "lmux_response" not in response.model_dump()


def test_stream_chunks_have_openai_shape(client, mock):
    mock.enqueue("one two three")
    chunks = list(
        client.chat.completions.create(
            model="mock/m1", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    for chunk in chunks:
        openai.types.chat.ChatCompletionChunk.model_validate(chunk.model_dump())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    # include_usage: a final chunk without choices carries the usage, none before it.
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_stream_without_usage_option_sends_no_usage(client, mock):
    mock.enqueue("a b")
    chunks = list(client.chat.completions.create(model="mock/m1", messages=HI, stream=True))
    assert all(c.usage is None and c.choices for c in chunks)


def test_stream_early_close_and_context_manager(client, mock):
    mock.enqueue("w1 w2 w3 w4 w5")
    with client.chat.completions.create(model="mock/m1", messages=HI, stream=True) as stream:
        first = next(stream)
        assert first.choices[0].delta.content == "w1 "
    assert list(stream) == []


def test_tools_round_trip(client, mock):
    mock.enqueue(ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'))
    response = client.chat.completions.create(
        model="mock/m1", messages=HI, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    message = response.choices[0].message
    assert response.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert message.tool_calls[0].id == "call_1"
    assert message.tool_calls[0].type == "function"
    openai.types.chat.ChatCompletion.model_validate(response.model_dump())
    request = mock.last_call.request
    assert request.tools[0].function.name == "get_weather"
    assert request.tool_choice.mode == "auto"
    # The answer goes back as OpenAI-style dicts, and a tool result after it.
    mock.enqueue("sunny")
    follow = client.chat.completions.create(
        model="mock/m1",
        messages=[
            *HI,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert follow.choices[0].message.content == "sunny"
    assert mock.last_call.messages[1].tool_calls[0].name == "get_weather"
    assert mock.last_call.messages[2].tool_call_id == "call_1"


def test_streamed_tool_calls(client, mock):
    mock.enqueue(
        [
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, id="call_9", name="get_weather")]),
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, arguments='{"city":')]),
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, arguments='"Oslo"}')]),
            ChatChunk(finish_reason=FinishReason.TOOL_CALLS, usage=Usage(3, 4)),
        ]
    )
    chunks = list(
        client.chat.completions.create(
            model="mock/m1", messages=HI, tools=[WEATHER_TOOL], stream=True
        )
    )
    for chunk in chunks:
        openai.types.chat.ChatCompletionChunk.model_validate(chunk.model_dump())
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "call_9"
    assert calls[0].function.name == "get_weather"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"city":"Oslo"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_response_format_reaches_provider(client, mock):
    client.chat.completions.create(
        model="mock/m1", messages=HI, response_format={"type": "json_object"}
    )
    assert mock.last_call.request.response_format == JsonObjectResponseFormat()
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    client.chat.completions.create(
        model="mock/m1",
        messages=HI,
        response_format={"type": "json_schema", "json_schema": {"name": "point", "schema": schema}},
    )
    assert isinstance(mock.last_call.request.response_format, JsonSchemaResponseFormat)
    assert mock.last_call.request.response_format.name == "point"


def test_unknown_fields_become_body_fields_and_max_completion_tokens(client, mock):
    client.chat.completions.create(
        model="mock/m1", messages=HI, max_completion_tokens=7, presence_penalty=0.5
    )
    assert mock.last_call.request.max_tokens == 7
    assert mock.last_call.request.extra == {"presence_penalty": 0.5}


def test_embeddings_shape(client, mock):
    response = client.embeddings.create(model="mock/e1", input=["abc", "de"])
    assert [d.index for d in response.data] == [0, 1]
    assert response.data[0].embedding == [3.0, 0.0, 1.0]
    assert response.usage.prompt_tokens == response.usage.total_tokens
    official = openai.types.CreateEmbeddingResponse.model_validate(response.model_dump())
    assert official.data[1].embedding == [2.0, 1.0, 1.0]
    single = client.embeddings.create(model="mock/e1", input="abcd", encoding_format="base64")
    assert single.data[0].embedding == [4.0, 0.0, 1.0]


def test_models_list(client):
    models = client.models.list()
    ids = [m.id for m in models]
    assert "mock/mock-model" in ids
    assert "echo/echo-1" in ids
    assert all(m.object == "model" for m in models.data)
    openai.types.Model.model_validate(models.data[0].model_dump())


def test_bare_name_means_openai_and_alias_is_kept(registry, mock):
    openai_mock = MockProvider("openai")
    registry.register("openai", openai_mock)
    registry.alias("fast", "mock/small-one")
    client = OpenAI(registry=registry)
    client.chat.completions.create(model="gpt-4o", messages=HI)
    assert openai_mock.last_call.model == "gpt-4o"
    reply = client.chat.completions.create(model="fast", messages=HI)
    assert mock.last_call.model == "small-one"
    assert reply.model == "fast"
    client = OpenAI(registry=registry, default_provider="mock")
    client.chat.completions.create(model="m7", messages=HI)
    assert mock.last_call.model == "m7"


def test_fallback_models_and_retries(registry, mock):
    backup = MockProvider("backup")
    registry.register("backup", backup)
    client = OpenAI(registry=registry)
    mock.enqueue(
        RateLimitError("slow down", retry_after=0), RateLimitError("slow down", retry_after=0)
    )
    backup.enqueue("from backup")
    reply = client.chat.completions.create(
        model="mock/m1", messages=HI, fallback_models=["backup/b1"], retries=1
    )
    assert reply.choices[0].message.content == "from backup"
    assert reply.model == "backup/b1"
    assert len(mock.calls) == 2  # one try plus one retry before falling back
    assert backup.last_call.model == "b1"


def test_retry_succeeds_on_same_model(registry, mock):
    client = OpenAI(registry=registry)
    mock.enqueue(ProviderError("boom", retry_after=0), "second time lucky")
    reply = client.chat.completions.create(model="mock/m1", messages=HI, retries=2)
    assert reply.choices[0].message.content == "second time lucky"
    assert len(mock.calls) == 2


def test_non_retryable_error_is_raised_without_fallback(registry, mock):
    backup = MockProvider("backup")
    registry.register("backup", backup)
    client = OpenAI(registry=registry)
    mock.enqueue(InvalidRequestError("bad request"))
    with pytest.raises(InvalidRequestError, match="bad request"):
        client.chat.completions.create(
            model="mock/m1", messages=HI, fallback_models=["backup/b1"], retries=3
        )
    assert backup.calls == []


def test_unknown_model_falls_back(registry, mock):
    client = OpenAI(registry=registry)
    reply = client.chat.completions.create(model="nope/x", messages=HI, fallback_models=["mock/m2"])
    assert reply.model == "mock/m2"


def test_stream_fallback_before_first_chunk(registry, mock):
    backup = MockProvider("backup")
    registry.register("backup", backup)
    client = OpenAI(registry=registry)
    mock.enqueue(RateLimitError("limited", retry_after=0))
    backup.enqueue("streamed by backup")
    chunks = list(
        client.chat.completions.create(
            model="mock/m1", messages=HI, stream=True, fallback_models=["backup/b"]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "streamed by backup"
    assert chunks[0].model == "backup/b"


def test_errors_are_lmux_errors(client, mock):
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="nope/x", messages=HI)
    mock.enqueue(RateLimitError("limited", retry_after=2))
    with pytest.raises(RateLimitError) as info:
        client.chat.completions.create(model="mock/m1", messages=HI)
    assert info.value.retry_after == 2
    mock.enqueue(RateLimitError("limited"))
    with pytest.raises(RateLimitError):  # raised when create() returns, not mid-iteration
        client.chat.completions.create(model="mock/m1", messages=HI, stream=True)
    for bad in (
        {"messages": "hi"},
        {"messages": HI, "retries": -1},
        {"messages": HI, "fallback_models": "mock/x"},
        {"messages": HI, "n": 2},
        {"messages": HI, "temperature": "hot"},
        {"messages": [{"role": "wizard", "content": "x"}]},
    ):
        with pytest.raises(InvalidRequestError):
            client.chat.completions.create(model="mock/m1", **bad)
    with pytest.raises(InvalidRequestError):
        client.chat.completions.create(model="", messages=HI)
    with pytest.raises(InvalidRequestError):
        client.embeddings.create(model="mock/e", input=[1, 2, 3])
    assert issubclass(InvalidRequestError, LmuxError)


# A call with an argument missing fails in the caller's frame, before the hop to the loop,
# and names the method the user called: a sync user never sees the async core's class.
MISSING_MODEL = [
    ("Completions.create", lambda c: c.chat.completions.create(messages=HI)),
    ("Embeddings.create", lambda c: c.embeddings.create(input="abc")),
    ("Responses.create", lambda c: c.responses.create(input="abc")),
    ("TextCompletions.create", lambda c: c.completions.create(prompt="abc")),
    ("Transcriptions.create", lambda c: c.audio.transcriptions.create(file=b"abc")),
]


@pytest.mark.parametrize(("name", "call"), MISSING_MODEL, ids=[n for n, _ in MISSING_MODEL])
def test_sync_call_missing_argument_names_the_sync_method(client, mock, name, call):
    with pytest.raises(TypeError) as raised:
        call(client)
    message = str(raised.value)
    assert message == f"{name}() missing 1 required keyword-only argument: 'model'"
    assert mock.calls == []


@pytest.mark.parametrize(("name", "call"), MISSING_MODEL, ids=[n for n, _ in MISSING_MODEL])
async def test_async_call_missing_argument_names_the_public_method(registry, mock, name, call):
    with pytest.raises(TypeError) as raised:
        await call(AsyncOpenAI(registry=registry))
    assert str(raised.value).startswith(f"Async{name}() missing 1 required keyword-only")
    assert mock.calls == []


async def test_async_client(registry, mock):
    client = AsyncOpenAI(registry=registry)
    mock.enqueue("async hello", "x y")
    reply = await client.chat.completions.create(model="mock/m1", messages=HI)
    assert reply.choices[0].message.content == "async hello"
    stream = await client.chat.completions.create(model="mock/m1", messages=HI, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream]
    assert "".join(p or "" for p in pieces) == "x y"
    embedded = await client.embeddings.create(model="mock/e", input="abc")
    assert embedded.data[0].embedding[0] == 3.0
    models = await client.models.list()
    assert any(m.id == "mock/mock-model" for m in models)
    mock.enqueue("a b c")
    async with await client.chat.completions.create(model="mock/m1", messages=HI, stream=True) as s:
        first = await s.__anext__()
        assert first.choices[0].delta.content == "a "
    await client.close()


def test_short_forms_use_default_registry(lmux_mock):
    lmux_mock.enqueue("short form", [[2.0, 0.0, 1.0]])
    reply = ChatCompletion.create(model="mock/m", messages=HI)
    assert reply.choices[0].message.content == "short form"
    vectors = Embedding.create(model="mock/e", input=["ab"])
    assert vectors.data[0].embedding == [2.0, 0.0, 1.0]


async def test_async_short_forms(lmux_mock):
    lmux_mock.enqueue("async short", [[3.0, 0.0, 1.0]])
    reply = await ChatCompletion.acreate(model="mock/m", messages=HI)
    assert reply.choices[0].message.content == "async short"
    vectors = await Embedding.acreate(model="mock/e", input="abc")
    assert vectors.data[0].embedding == [3.0, 0.0, 1.0]


def test_api_key_never_in_repr(registry):
    client = OpenAI(registry=registry, api_key="sk-very-secret-key-0001")
    assert "sk-very" not in repr(client)
    assert "sk-very" not in repr(client.chat.completions)


def test_with_options_and_ignored_openai_options(registry, mock):
    client = OpenAI(registry=registry, organization="org-x", project="p")
    faster = client.with_options(timeout=3.5, max_retries=1)
    mock.enqueue(RateLimitError("once", retry_after=0), "after retry")
    reply = faster.chat.completions.create(model="mock/m1", messages=HI)
    assert reply.choices[0].message.content == "after retry"
    assert mock.last_call.request.timeout == 3.5
    assert client.timeout is None
