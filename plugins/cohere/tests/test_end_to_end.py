"""End to end: ``Registry(plugins=[lmux_plug_cohere])`` against a Cohere v2 server on 127.0.0.1.

The server is the project's fake server (``WireServer``) with a scenario that speaks the wire format Cohere's
recordings in ``../shared/wire/cohere`` show: ``/v2/chat`` JSON answers and SSE streams
(``message-start`` ... ``message-end``, ``data: [DONE]``), ``/v2/embed`` with embeddings by
type, and error bodies ``{"id", "message"}`` without an ``error`` object.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

import lmux_plug_cohere
import pytest

from lmux_plug import AuthenticationError
from lmux_plug import ContextLengthExceededError
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug import ToolCall
from lmux_plug import UnsupportedFeatureError
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "test-cohere-key-not-real"


def sse(*events: dict[str, Any], done: bool = True) -> bytes:
    frames = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    return b"".join(frames) + (b"data: [DONE]\n\n" if done else b"")


USAGE = {
    "billed_units": {"input_tokens": 5, "output_tokens": 3},
    "tokens": {"input_tokens": 120, "output_tokens": 4},
    "cached_tokens": 100,
}


class FakeCohere:
    """The scenario: answers with the function set by the test (of the JSON body)."""

    def __init__(self) -> None:
        self.answer: Callable[[dict[str, Any]], Reply] = lambda _b: Reply.with_json({})

    def __call__(self, request: CapturedRequest) -> Reply:
        if request.path not in ("/v2/chat", "/v2/embed"):
            return Reply.with_json({"message": f"no route {request.path}"}, status=404)
        return self.answer(request.json())


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeCohere, WireServer]]:
    """The scenario and the fake server running it (its ``requests``)."""
    fake = FakeCohere()
    async with WireServer(fake) as running:
        yield fake, running


@pytest.fixture
def registry(
    server: tuple[FakeCohere, WireServer], plugin_registry: Callable[..., Registry]
) -> Registry:
    origin = server[1].origin()
    return plugin_registry(lmux_plug_cohere, "cohere", env={"CO_API_KEY": KEY}, base_url=origin)


def _sse_response(body: bytes) -> Reply:
    return Reply.with_body(body, "text/event-stream")


async def test_chat_sends_v2_body_and_decodes_usage_cost_citations(
    server, registry, brief_chat
) -> None:
    fake, running = server
    citations = [{"start": 0, "end": 5, "text": "Hello", "sources": [], "type": "TEXT_CONTENT"}]
    fake.answer = lambda _b: Reply.with_json(
        {
            "id": "gen-1",
            "finish_reason": "COMPLETE",
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": "Hello there"}],
                "citations": citations,
            },
            "usage": USAGE,
        }
    )
    answer = await brief_chat(
        registry,
        "cohere/command-a-03-2025",
        "Hello there",
        max_tokens=50,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        extra_body={"k": 5},
    )
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (120, 4)
    assert answer.usage.cache_read_tokens == 100
    assert answer.request_id == "gen-1"
    assert answer.raw["message"]["citations"] == citations
    assert answer.raw["usage"]["billed_units"] == {"input_tokens": 5, "output_tokens": 3}
    assert answer.cost is not None
    assert answer.cost.total > 0
    sent = running.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
        ],
        "temperature": 0.2,
        "p": 0.9,
        "stop_sequences": ["END"],
        "seed": 7,
        "max_tokens": 50,
        "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        "k": 5,
    }


async def test_tool_round_trip_keeps_tool_plan_as_reasoning(
    server, registry, weather_tool, answer_tool_call
) -> None:
    fake, running = server
    fake.answer = lambda _b: Reply.with_json(
        {
            "id": "gen-2",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": "I will look up the weather.",
                "tool_calls": [
                    {
                        "id": "get_weather_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            "usage": USAGE,
        }
    )
    tool = weather_tool
    first = await registry.achat(
        "cohere/command-r-08-2024", "Weather in Paris?", tools=[tool], tool_choice="required"
    )
    assert first.content is None
    assert first.finish_reason is FinishReason.TOOL_CALLS
    assert first.tool_calls == (ToolCall("get_weather_abc", "get_weather", '{"city":"Paris"}'),)
    assert [t.text for t in first.thinking] == ["I will look up the weather."]
    assert running.requests[0].json()["tool_choice"] == "REQUIRED"

    fake.answer = lambda _b: Reply.with_json(
        {
            "id": "gen-3",
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
            "usage": USAGE,
        }
    )
    second = await answer_tool_call(
        registry,
        "cohere/command-r-08-2024",
        "Weather in Paris?",
        first,
        '{"sky": "sunny"}',
        tools=[tool],
    )
    assert second.content == "Sunny."
    sent = running.requests[1].json()["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "get_weather_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
        "tool_plan": "I will look up the weather.",
    }
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": "get_weather_abc",
        "content": '{"sky": "sunny"}',
    }


async def test_named_tool_choice_offers_only_that_tool(server, registry) -> None:
    fake, running = server
    fake.answer = lambda _b: Reply.with_json(
        {"id": "g", "finish_reason": "COMPLETE", "message": {"content": []}, "usage": USAGE}
    )
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}},
    ]
    await registry.achat(
        "cohere/command-a-03-2025",
        "x",
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "b"}},
    )
    body = running.requests[0].json()
    assert [t["function"]["name"] for t in body["tools"]] == ["b"]
    assert body["tool_choice"] == "REQUIRED"


async def test_stream_text_tool_plan_and_tool_calls(server, registry, streamed_tool_call) -> None:
    fake, running = server
    events = [
        {"id": "gen-s", "type": "message-start", "delta": {"message": {"role": "assistant"}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will "}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "call it."}}},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "t_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"a":'}}}},
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": " 1}"}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}},
    ]
    fake.answer = lambda _b: _sse_response(sse(*events))
    chunks = await streamed_tool_call(registry, "cohere/command-r-08-2024", "t_1", 120, "gen-s")
    assert running.requests[0].json()["stream"] is True
    assert "".join(c.thinking_delta for c in chunks) == "I will call it."
    assert "".join(c.delta for c in chunks) == ""


async def test_stream_without_message_end_is_truncated(server, registry) -> None:
    fake, _running = server
    events = [
        {"id": "x", "type": "message-start", "delta": {"message": {}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hel"}}}},
    ]
    fake.answer = lambda _b: _sse_response(sse(*events, done=False))
    got = await cut_short(registry.achat_stream("cohere/command-a-03-2025", "hi"))
    assert [c.delta for c in got] == ["Hel"]


async def test_stream_error_in_message_end_raises(server, registry) -> None:
    fake, _running = server
    events = [
        {"id": "x", "type": "message-start", "delta": {"message": {}}},
        {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal failure"}},
    ]
    fake.answer = lambda _b: _sse_response(sse(*events))
    with pytest.raises(ProviderError, match="internal failure") as caught:
        _ = [c async for c in registry.achat_stream("cohere/command-a-03-2025", "hi")]
    assert caught.value.provider == "cohere"


async def test_embed_input_type_default_override_and_batches(server, registry) -> None:
    fake, running = server

    def answer(body: dict[str, Any]) -> Reply:
        vectors = [[float(len(t)), 0.5] for t in body["texts"]]
        return Reply.with_json(
            {
                "id": "e",
                "embeddings": {"float": vectors},
                "texts": body["texts"],
                "meta": {"billed_units": {"input_tokens": len(body["texts"])}},
                "response_type": "embeddings_by_type",
            }
        )

    fake.answer = answer
    texts = [f"text {i}" for i in range(200)]
    result = await registry.aembed("cohere/embed-v4.0", texts, dimensions=256)
    assert [v[0] for v in result.embeddings] == [float(len(t)) for t in texts]
    assert result.usage.input_tokens == 200
    assert [len(r.json()["texts"]) for r in running.requests] == [96, 96, 8]
    first = running.requests[0].json()
    assert first["input_type"] == lmux_plug_cohere.DEFAULT_INPUT_TYPE == "search_document"
    assert first["embedding_types"] == ["float"]
    assert first["output_dimension"] == 256
    await registry.aembed("cohere/embed-v4.0", "query", input_type="search_query")
    assert running.requests[-1].json()["input_type"] == "search_query"
    await registry.aembed(
        "cohere/embed-v4.0", "query", extra_body={"input_type": "search_query", "truncate": "END"}
    )
    last = running.requests[-1].json()
    assert last["input_type"] == "search_query"
    assert last["truncate"] == "END"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (499, InvalidRequestError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ProviderError),
    ],
)
async def test_error_bodies_without_error_object_map_by_status(
    server, registry, status, expected
) -> None:
    fake, _running = server
    fake.answer = lambda _b: Reply.with_json(
        {"id": "err", "message": f"failure {status} for key {KEY}"},
        status=status,
        headers={"retry-after": "3"},
    )
    with pytest.raises(expected) as caught:
        await registry.achat("cohere/command-a-03-2025", "hi")
    assert caught.value.status_code == status
    assert f"failure {status}" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in (caught.value.body or "")
    if status == 429:
        assert caught.value.retry_after == 3


async def test_too_many_tokens_is_context_length_exceeded(server, registry) -> None:
    fake, _running = server
    message = (
        "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292."
    )
    fake.answer = lambda _b: Reply.with_json({"id": "e", "message": message}, status=400)
    with pytest.raises(ContextLengthExceededError, match="too many tokens"):
        _ = [c async for c in registry.achat_stream("cohere/command-a-03-2025", "hi")]


async def test_missing_key_fails_before_io(server, monkeypatch, plugin_registry) -> None:
    _, running = server
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    reg = plugin_registry(lmux_plug_cohere, "cohere", base_url=running.origin())
    with pytest.raises(AuthenticationError, match="CO_API_KEY"):
        await reg.achat("cohere/command-a-03-2025", "hi")
    assert running.requests == []


async def test_bad_input_is_refused_before_io(server, registry) -> None:
    _, running = server
    audio = {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}],
    }
    with pytest.raises(UnsupportedFeatureError, match="audio"):
        await registry.achat("cohere/command-a-03-2025", [audio])
    with pytest.raises(InvalidRequestError, match="not among the tools"):
        await registry.achat(
            "cohere/command-a-03-2025",
            "x",
            tools=[{"type": "function", "function": {"name": "a", "parameters": {}}}],
            tool_choice={"type": "function", "function": {"name": "zzz"}},
        )
    with pytest.raises(InvalidRequestError, match="reasoning_effort"):
        await registry.achat("cohere/command-a-reasoning-08-2025", "x", reasoning_effort="extreme")
    assert running.requests == []


async def test_reasoning_effort_becomes_thinking_budget(server, registry) -> None:
    fake, running = server
    fake.answer = lambda _b: Reply.with_json(
        {
            "id": "r",
            "finish_reason": "COMPLETE",
            "message": {
                "content": [
                    {"type": "thinking", "thinking": "Let me think."},
                    {"type": "text", "text": "42"},
                ]
            },
            "usage": USAGE,
        }
    )
    answer = await registry.achat("cohere/command-a-reasoning-08-2025", "x", reasoning_effort="low")
    assert answer.content == "42"
    assert [t.text for t in answer.thinking] == ["Let me think."]
    assert running.requests[0].json()["thinking"] == {"type": "enabled", "token_budget": 1024}
