"""End to end: Registry -> plugin -> core transport -> a real socket on 127.0.0.1 -> back."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from lmux_plug import FinishReason
from lmux_plug import ToolCall
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.testing.streams import collect
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.streams import first_then_close
from lmux_plug.testing.streams import terminal_of

MODEL = "anthropic/claude-sonnet-4-5"


async def test_plain_chat_sends_anthropic_request_and_decodes(
    registry, anthropic_server, wire, brief_chat
):
    anthropic_server.enqueue(
        wire.Reply(
            json_body=wire.message_body(
                text="Hello!",
                usage={
                    "input_tokens": 10,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 20,
                    "output_tokens": 5,
                },
            ),
            headers={"anthropic-ratelimit-requests-remaining": "41", "request-id": "req_abc"},
        )
    )
    # Claude takes temperature or top_p, not both, and has no seed: leave those two unset.
    response = await brief_chat(registry, MODEL, "Hello!", top_p=None, seed=None)
    assert response.usage.input_tokens == 130
    assert response.usage.cache_read_tokens == 100
    assert response.usage.cache_creation_tokens == 20
    assert response.request_id == "req_abc"
    assert response.rate_limits == {"anthropic-ratelimit-requests-remaining": "41"}
    # Cost from the spec's prices: 10 uncached at $3/M, 100 reads at $0.30/M, 20 writes at $3.75/M.
    assert response.cost is not None
    assert response.cost.total == Decimal("0.00003") + Decimal("0.00003") + Decimal(
        "0.000075"
    ) + Decimal("0.000075")

    sent = anthropic_server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in {k.lower() for k in sent.headers}
    body = sent.json()
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == [{"type": "text", "text": "be brief"}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert body["max_tokens"] == 64_000  # from the model spec
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["END"]
    assert "stream" not in body


async def test_stream_yields_text_and_one_terminal_chunk(registry, anthropic_server, wire):
    anthropic_server.enqueue(
        wire.Reply(sse_body=wire.sse(wire.message_events(text="Hello there, world")))
    )
    chunks = [c async for c in registry.achat_stream(MODEL, "Hi")]
    assert "".join(c.delta for c in chunks) == "Hello there, world"
    terminal = terminal_of(chunks)
    assert terminal.usage is not None
    assert terminal.usage.output_tokens == 7
    assert terminal.cost is not None
    assert anthropic_server.requests[0].json()["stream"] is True
    assert all(c.request_id == "req_1" for c in chunks)


async def test_tools_round_trip(registry, anthropic_server, wire, weather_tool, answer_tool_call):
    tool = weather_tool
    anthropic_server.enqueue(
        wire.Reply(
            json_body=wire.message_body(
                text="Checking.",
                tools=[("toolu_1", "get_weather", {"city": "Paris"})],
                stop_reason="tool_use",
            )
        ),
        wire.Reply(json_body=wire.message_body(text="Sunny in Paris.")),
    )
    first = await registry.achat(MODEL, "Weather in Paris?", tools=[tool], tool_choice="required")
    assert first.finish_reason is FinishReason.TOOL_CALLS
    assert first.tool_calls == (ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),)
    sent = anthropic_server.requests[0].json()
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}

    second = await answer_tool_call(
        registry, MODEL, "Weather in Paris?", first, "sunny", tools=[tool]
    )
    assert second.content == "Sunny in Paris."
    turns = anthropic_server.requests[1].json()["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
    ]


async def test_streamed_tool_call_deltas(registry, anthropic_server, wire):
    events = wire.message_events(
        text="Let me look.",
        tools=[("toolu_9", "lookup", '{"q": "pelican facts"}')],
        stop_reason="tool_use",
    )
    anthropic_server.enqueue(wire.Reply(sse_body=wire.sse(events)))
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    chunks = [c async for c in registry.achat_stream(MODEL, "pelicans", tools=[tool])]
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas[0].id == "toolu_9"
    assert deltas[0].name == "lookup"
    assert deltas[0].index == 0
    assert json.loads("".join(d.arguments for d in deltas)) == {"q": "pelican facts"}
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_json_schema_mode_uses_forced_tool(registry, anthropic_server, wire):
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "pet", "schema": schema}}
    anthropic_server.enqueue(
        wire.Reply(
            json_body=wire.message_body(
                tools=[("toolu_j", "json_response", {"name": "Pouch"})], stop_reason="tool_use"
            )
        )
    )
    messages = [{"role": "user", "content": "Name a pelican"}]
    response = await registry.achat(MODEL, messages, response_format=response_format)
    assert json.loads(response.content or "") == {"name": "Pouch"}
    assert response.tool_calls == ()
    assert response.finish_reason is FinishReason.STOP
    body = anthropic_server.requests[0].json()
    assert body["tools"][0]["name"] == "json_response"
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "json_response",
        "disable_parallel_tool_use": True,
    }
    assert messages == [{"role": "user", "content": "Name a pelican"}]  # caller's list untouched


async def test_json_object_mode_streams_json_as_text(registry, anthropic_server, wire):
    events = wire.message_events(
        tools=[("toolu_j", "json_response", '{"ok": true, "n": 3}')], stop_reason="tool_use"
    )
    anthropic_server.enqueue(wire.Reply(sse_body=wire.sse(events)))
    chunks = [
        c
        async for c in registry.achat_stream(
            MODEL, "give json", response_format={"type": "json_object"}
        )
    ]
    assert json.loads("".join(c.delta for c in chunks)) == {"ok": True, "n": 3}
    assert not any(c.tool_call_deltas for c in chunks)
    assert chunks[-1].finish_reason is FinishReason.STOP
    body = anthropic_server.requests[0].json()
    assert body["tools"][0]["input_schema"]["type"] == "object"


async def test_429_with_retry_after(registry, anthropic_server, wire, rate_limited):
    error = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "Number of request tokens has exceeded your per-minute rate limit",
        },
    }
    anthropic_server.enqueue(
        wire.Reply(
            status=429, json_body=error, headers={"retry-after": "17", "x-should-retry": "true"}
        )
    )
    error = await rate_limited(registry, MODEL, 17.0)
    assert error.request_id == "req_1"
    assert "test-key" not in str(error)
    assert "test-key" not in (error.body or "")


async def test_529_overloaded_is_retryable_provider_error(registry, anthropic_server, wire):
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic_server.enqueue(
        wire.Reply(status=529, json_body=error, headers={"x-should-retry": "true"})
    )
    with pytest.raises(ProviderError) as info:
        await registry.achat(MODEL, "Hi")
    assert not isinstance(info.value, RateLimitError)
    assert info.value.status_code == 529
    assert info.value.retryable is True


async def test_401_and_400_map_before_stream_starts(registry, anthropic_server, wire):
    auth = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    too_long = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 208310 tokens > 200000 maximum",
        },
    }
    anthropic_server.enqueue(
        wire.Reply(status=401, json_body=auth, headers={"x-should-retry": "false"}),
        wire.Reply(status=400, json_body=too_long),
    )
    with pytest.raises(AuthenticationError):
        _ = [c async for c in registry.achat_stream(MODEL, "Hi")]
    with pytest.raises(ContextLengthExceededError):
        await registry.achat(MODEL, "Hi")


async def test_mid_stream_error_event(registry, anthropic_server, wire):
    events = wire.message_events(text="partial answer")[:4]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    # The server keeps the connection open after the error (10 s of pings): the client must
    # raise at the error event, not wait for the body to end.
    anthropic_server.enqueue(wire.Reply(sse_body=wire.sse(events), trickle=500))
    received: list = []
    with pytest.raises(ProviderError) as info:
        await asyncio.wait_for(collect(registry.achat_stream(MODEL, "Hi"), received), timeout=5)
    assert info.value.status_code == 529
    assert info.value.retryable is True
    assert "".join(c.delta for c in received) == "parti"  # text before the error arrived
    assert not any(c.finish_reason for c in received)


async def test_mid_stream_rate_limit_and_invalid_request_events(registry, anthropic_server, wire):
    for kind, cls in (
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", InvalidRequestError),
        ("api_error", ProviderError),
    ):
        events = [
            *wire.message_events()[:2],
            {"type": "error", "error": {"type": kind, "message": "boom"}},
        ]
        anthropic_server.enqueue(wire.Reply(sse_body=wire.sse(events)))
        with pytest.raises(cls):
            _ = [c async for c in registry.achat_stream(MODEL, "Hi")]


async def test_truncated_stream_raises_provider_error(registry, anthropic_server, wire):
    events = wire.message_events(text="cut short")
    anthropic_server.enqueue(
        wire.Reply(sse_body=wire.sse(events[:-2]))
    )  # no message_delta / message_stop
    received = await cut_short(registry.achat_stream(MODEL, "Hi"))
    assert "".join(c.delta for c in received) == "cut short"


async def test_early_close_releases_connection(registry, anthropic_server, wire):
    events = wire.message_events(text="a long answer that keeps going")
    anthropic_server.enqueue(wire.Reply(sse_body=wire.sse(events[:4]), trickle=500))
    first = await first_then_close(registry.achat_stream(MODEL, "Hi"))
    assert first.delta
    # The server notices the client went away long before its 10 s of trickling ends.
    assert await anthropic_server.await_disconnects(1, 5.0)
    # The registry still works afterwards.
    anthropic_server.enqueue(wire.Reply(json_body=wire.message_body(text="again")))
    assert (await registry.achat(MODEL, "Hi")).content == "again"


async def test_bad_input_fails_before_any_request(registry, anthropic_server, wire):
    with pytest.raises(InvalidRequestError, match="temperature"):
        await registry.achat(MODEL, "Hi", temperature=1.5)
    with pytest.raises(InvalidRequestError, match="reasoning_effort"):
        await registry.achat(MODEL, "Hi", reasoning_effort="extreme")
    with pytest.raises(InvalidRequestError, match="tool result"):
        await registry.achat(
            MODEL,
            [
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "t1", "content": "r"},
            ],
        )
    assert anthropic_server.requests == []


async def test_reasoning_effort_sends_thinking_and_returns_signed_blocks(
    registry, anthropic_server, wire
):
    body = wire.message_body(text="42")
    body["content"].insert(
        0, {"type": "thinking", "thinking": "Let me think", "signature": "sig=="}
    )
    body["content"].insert(1, {"type": "redacted_thinking", "data": "opaque"})
    anthropic_server.enqueue(
        wire.Reply(json_body=body), wire.Reply(json_body=wire.message_body(text="ok"))
    )
    response = await registry.achat(MODEL, "Q?", reasoning_effort="medium", max_tokens=20_000)
    sent = anthropic_server.requests[0].json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert sent["max_tokens"] == 20_000
    assert response.content == "42"
    assert [(t.text, t.signature, t.redacted) for t in response.thinking] == [
        ("Let me think", "sig==", False),
        ("opaque", None, True),
    ]
    await registry.achat(
        MODEL,
        [{"role": "user", "content": "Q?"}, response.message, {"role": "user", "content": "And?"}],
        reasoning_effort="medium",
        max_tokens=20_000,
    )
    assistant = anthropic_server.requests[1].json()["messages"][1]["content"]
    assert assistant[:2] == [
        {"type": "thinking", "thinking": "Let me think", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
