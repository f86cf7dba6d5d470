"""Unit tests of the sans-IO codec and the spec: one wire rule per test."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from lmux_plug_anthropic import SPEC
from lmux_plug_anthropic import _codec
from lmux_plug_anthropic._spec import PRICING_DATE

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import ChatRequest
from lmux_plug import DeveloperMessage
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import FunctionDefinition
from lmux_plug import ImageContent
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import Tool
from lmux_plug import ToolCall
from lmux_plug import ToolChoice
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug import calculate_cost
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.wire import ServerSentEvent


def encode(*messages, **params):
    return _codec.encode_chat(
        ChatRequest(model="claude-sonnet-4-5", messages=messages, **params), SPEC
    )


def tool(name="f", parameters=None):
    return Tool(
        FunctionDefinition(name, "does f", parameters or {"type": "object", "properties": {}})
    )


# --------------------------------------------------------------------------- encoding


def test_system_and_developer_messages_become_system_blocks_with_cache_control():
    body = encode(
        SystemMessage("You are terse.", cache_control=True),
        DeveloperMessage("Use metric units."),
        UserMessage("hi"),
    )
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Use metric units."},
    ]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_user_cache_control_marks_the_last_block():
    body = encode(
        UserMessage((TextContent("long doc"), TextContent("question", cache_control=True))),
        AssistantMessage("ok"),
        UserMessage("more", cache_control=True),
    )
    assert body["messages"][0]["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][2]["content"] == [
        {"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}
    ]


def test_more_than_four_cache_markers_is_refused():
    with pytest.raises(InvalidRequestError, match="at most 4"):
        encode(*[UserMessage(f"m{i}", cache_control=True) for i in range(5)])


def test_consecutive_same_role_turns_are_merged_and_tool_results_lead():
    body = encode(
        UserMessage("a"),
        UserMessage("b"),
        AssistantMessage("calling", tool_calls=[ToolCall("call_1", "f", '{"x": 1}')]),
        UserMessage("also this"),
        ToolMessage("42", "call_1", is_error=True),
    )
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert [b["text"] for b in body["messages"][0]["content"]] == ["a", "b"]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "42", "is_error": True},
        {"type": "text", "text": "also this"},
    ]


def test_foreign_tool_ids_are_made_to_fit_on_both_sides():
    body = encode(
        UserMessage("q"),
        AssistantMessage(tool_calls=[ToolCall("call:abc/1", "f", "")]),
        ToolMessage("r", "call:abc/1"),
    )
    assert body["messages"][1]["content"][0]["id"] == "call_abc_1"
    assert body["messages"][1]["content"][0]["input"] == {}
    assert body["messages"][2]["content"][0]["tool_use_id"] == "call_abc_1"


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ((UserMessage("q"), AssistantMessage(tool_calls=[ToolCall("t", "f")])), "no tool result"),
        ((UserMessage("q"), ToolMessage("r", "t")), "does not answer"),
        ((AssistantMessage("hello"), UserMessage("q")), "start with a user"),
        ((SystemMessage("s"),), "non-empty user"),
        ((UserMessage("   "),), "non-empty user"),
        (
            (
                UserMessage("q"),
                AssistantMessage(tool_calls=[ToolCall("t", "f", "[1]")]),
                ToolMessage("r", "t"),
            ),
            "JSON object",
        ),
        (
            (
                UserMessage("q"),
                AssistantMessage(tool_calls=[ToolCall("t", "f", "{bad")]),
                ToolMessage("r", "t"),
            ),
            "not valid JSON",
        ),
        ((UserMessage((AudioContent("AAAA"),)),), "no audio"),
        ((UserMessage((ImageContent("ftp://x/y.png"),)),), "https"),
        ((UserMessage((ImageContent("data:image/tiff;base64,AAAA"),)),), "image/tiff"),
        ((UserMessage((FileContent("AAAA", media_type="application/zip"),)),), "document type"),
    ],
)
def test_invalid_conversations_are_refused_before_io(messages, match):
    with pytest.raises(InvalidRequestError, match=match):
        encode(*messages)


def test_images_and_documents():
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    body = encode(
        UserMessage(
            (
                ImageContent.from_base64("iVBORw0KGgo=", "image/png"),
                ImageContent("https://example.com/cat.jpg"),
                FileContent(pdf, filename="paper.pdf"),
                FileContent(base64.b64encode(b"plain words").decode(), media_type="text/plain"),
                FileContent(file_id="file_011"),
                TextContent("Describe"),
            )
        )
    )
    blocks = body["messages"][0]["content"]
    assert blocks[0] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }
    assert blocks[2] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
        "title": "paper.pdf",
    }
    assert blocks[3]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "plain words",
    }
    assert blocks[4]["source"] == {"type": "file", "file_id": "file_011"}
    request = ChatRequest(model="m", messages=[UserMessage((FileContent(file_id="f"),))])
    assert _codec.required_betas(request) == ("files-api-2025-04-14",)


def test_thinking_blocks_round_trip_and_unsigned_ones_are_dropped():
    body = encode(
        UserMessage("q"),
        AssistantMessage(
            "answer ",
            thinking=[
                ThinkingBlock("reasoning", signature="sig"),
                ThinkingBlock("opaque-data", redacted=True),
                ThinkingBlock("foreign reasoning without signature"),
            ],
        ),
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "reasoning", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque-data"},
        {"type": "text", "text": "answer"},  # a final assistant turn may not end in whitespace
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice("auto"), {"type": "auto"}),
        (ToolChoice("none"), {"type": "none"}),
        (ToolChoice("required"), {"type": "any"}),
        (ToolChoice.function("f"), {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice_modes(choice, wire):
    body = encode(UserMessage("q"), tools=[tool()], tool_choice=choice)
    assert body["tool_choice"] == wire
    assert body["tools"] == [
        {"name": "f", "input_schema": {"type": "object", "properties": {}}, "description": "does f"}
    ]


def test_tool_errors():
    with pytest.raises(InvalidRequestError, match="not among the tools"):
        encode(UserMessage("q"), tools=[tool()], tool_choice=ToolChoice.function("g"))
    with pytest.raises(InvalidRequestError, match="needs tools"):
        encode(UserMessage("q"), tool_choice=ToolChoice("required"))
    with pytest.raises(InvalidRequestError, match="must match"):
        encode(UserMessage("q"), tools=[tool("bad name!")])
    with pytest.raises(InvalidRequestError, match="reserved"):
        encode(UserMessage("q"), tools=[tool(_codec.JSON_TOOL_NAME)])
    with pytest.raises(InvalidRequestError, match="type 'object'"):
        encode(UserMessage("q"), tools=[tool(parameters={"type": "array"})])


def test_schema_without_type_gets_object_without_mutating_caller_dict():
    params = {"properties": {"a": {"type": "integer"}}}
    body = encode(UserMessage("q"), tools=[tool(parameters=params)])
    assert body["tools"][0]["input_schema"] == {
        "properties": {"a": {"type": "integer"}},
        "type": "object",
    }
    assert params == {"properties": {"a": {"type": "integer"}}}


def test_json_schema_mode_forces_the_synthetic_tool():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = encode(UserMessage("q"), response_format=JsonSchemaResponseFormat("count", schema))
    assert body["tools"] == [
        {
            "name": "json_response",
            "description": "Return the answer as count. Always answer by calling this tool.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "json_response",
        "disable_parallel_tool_use": True,
    }
    with pytest.raises(InvalidRequestError, match="type 'object'"):
        encode(UserMessage("q"), response_format=JsonSchemaResponseFormat("x", {"type": "array"}))


def test_json_mode_with_user_tools_and_with_thinking():
    body = encode(UserMessage("q"), tools=[tool()], response_format=JsonObjectResponseFormat())
    assert [t["name"] for t in body["tools"]] == ["f", "json_response"]
    assert body["tool_choice"] == {"type": "any"}
    body = encode(
        SystemMessage("sys"),
        UserMessage("q"),
        response_format=JsonObjectResponseFormat(),
        reasoning_effort="low",
    )
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"][0] == {"type": "text", "text": "sys"}
    assert "json_response" in body["system"][-1]["text"]


@pytest.mark.parametrize(("effort", "budget"), list(_codec.REASONING_BUDGETS.items()))
def test_reasoning_effort_maps_to_thinking_budget(effort, budget):
    body = encode(UserMessage("q"), reasoning_effort=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget


def test_reasoning_budget_fits_max_tokens():
    assert "thinking" not in encode(UserMessage("q"), reasoning_effort="none")
    body = encode(UserMessage("q"), reasoning_effort="high", max_tokens=5000)
    assert body["thinking"]["budget_tokens"] == 4999
    with pytest.raises(InvalidRequestError, match="minimum thinking budget"):
        encode(UserMessage("q"), reasoning_effort="low", max_tokens=500)
    with pytest.raises(InvalidRequestError, match="thinking"):
        encode(UserMessage("q"), reasoning_effort="low", temperature=0.5)
    with pytest.raises(InvalidRequestError, match="not allowed with thinking"):
        encode(
            UserMessage("q"),
            reasoning_effort="low",
            tools=[tool()],
            tool_choice=ToolChoice("required"),
        )
    # An unknown model gets 4096 by default, raised to fit the budget.
    request = ChatRequest(
        model="claude-future", messages=[UserMessage("q")], reasoning_effort="high"
    )
    assert _codec.encode_chat(request, SPEC)["max_tokens"] == 16384 + 4096


def test_parameters_and_extra():
    body = encode(
        UserMessage("q"),
        top_p=0.9,
        stop=("\n\nHuman:",),
        user="user-1",
        max_tokens=100,
        extra={"top_k": 5, "metadata": {"user_id": "override"}},
    )
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["\n\nHuman:"]
    assert body["max_tokens"] == 100
    assert body["top_k"] == 5
    assert body["metadata"] == {"user_id": "override"}
    with pytest.raises(InvalidRequestError, match="non-whitespace"):
        encode(UserMessage("q"), stop=(" ",))
    with pytest.raises(InvalidRequestError, match="max_tokens"):
        encode(UserMessage("q"), max_tokens=0)
    with pytest.raises(InvalidRequestError, match="top_p"):
        encode(UserMessage("q"), top_p=2.0)


def test_default_max_tokens_comes_from_model_spec():
    for model in SPEC.models:
        request = ChatRequest(model=model.id, messages=[UserMessage("q")])
        assert _codec.encode_chat(request, SPEC)["max_tokens"] == model.max_output_tokens
    alias = ChatRequest(model="claude-3-5-haiku-latest", messages=[UserMessage("q")])
    assert _codec.encode_chat(alias, SPEC)["max_tokens"] == 8192


# --------------------------------------------------------------------------- decoding


def test_usage_counts_cached_tokens_in_input():
    usage = _codec.usage_from(
        {
            "input_tokens": 8,
            "cache_creation_input_tokens": 4167,
            "cache_read_input_tokens": 2,
            "output_tokens": 204,
        }
    )
    assert usage == Usage(
        input_tokens=4177, output_tokens=204, cache_read_tokens=2, cache_creation_tokens=4167
    )
    assert _codec.usage_from(None) == Usage()
    assert _codec.usage_from({"input_tokens": None, "output_tokens": True}) == Usage()


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("pause_turn", FinishReason.OTHER),
        ("something_new", FinishReason.OTHER),
        (None, FinishReason.OTHER),
    ],
)
def test_stop_reasons(stop, finish):
    assert _codec.finish_reason_of(stop) is finish


def test_decode_refusal_and_json_mode():
    body = {
        "type": "message",
        "model": "m",
        "content": [{"type": "text", "text": "I can't help."}],
        "stop_reason": "refusal",
        "usage": {},
    }
    response = _codec.decode_chat(body, {"Request-Id": "req_1"})
    assert response.refusal == "I can't help."
    assert response.finish_reason is FinishReason.CONTENT_FILTER
    assert response.request_id == "req_1"
    body = {
        "type": "message",
        "model": "m",
        "content": [
            {"type": "tool_use", "id": "t", "name": "json_response", "input": {"a": [1, "é"]}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    response = _codec.decode_chat(body, {}, json_tool="json_response")
    assert json.loads(response.content or "") == {"a": [1, "é"]}
    assert response.tool_calls == ()
    assert response.finish_reason is FinishReason.STOP
    plain = _codec.decode_chat(body, {})
    assert plain.tool_calls[0].name == "json_response"


@pytest.mark.parametrize("body", [None, [], {"content": "text"}, {"content": ["x"]}])
def test_malformed_bodies_raise_provider_error(body):
    with pytest.raises(ProviderError, match="malformed"):
        _codec.decode_chat(body, {})


@pytest.mark.parametrize(
    ("kind", "cls", "status"),
    [
        ("overloaded_error", ProviderError, 529),
        ("rate_limit_error", RateLimitError, 429),
        ("api_error", ProviderError, 500),
        ("invalid_request_error", InvalidRequestError, 400),
        ("authentication_error", AuthenticationError, 401),
        ("not_found_error", NotFoundError, 404),
        ("brand_new_error", ProviderError, 500),
    ],
)
def test_error_events(kind, cls, status):
    error = _codec.error_from_event(
        {"type": "error", "error": {"type": kind, "message": "m"}}, request_id="req_9"
    )
    assert type(error) is cls
    assert error.status_code == status
    assert error.request_id == "req_9"
    assert error.retryable is (cls in (ProviderError, RateLimitError))


def test_stream_decoder_rejects_garbage_and_ignores_unknown_events():
    decoder = _codec.StreamDecoder()
    assert decoder.feed(ServerSentEvent('{"type": "brand_new_event"}', "brand_new_event")) == []
    with pytest.raises(ProviderError, match="malformed"):
        decoder.feed(ServerSentEvent("{not json", "message_start"))
    with pytest.raises(ProviderError, match="malformed"):
        decoder.feed(ServerSentEvent('{"type": "content_block_delta", "index": 3, "delta": {}}'))
    with pytest.raises(ProviderError, match="truncated"):
        decoder.close()


def test_stream_text_before_json_tool_is_dropped_in_json_mode():
    events = [
        {
            "type": "message_start",
            "message": {"model": "m", "usage": {"input_tokens": 3, "output_tokens": 1}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Sure:"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t", "name": "json_response", "input": {}},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 4},
        },
        {"type": "message_stop"},
    ]
    decoder = _codec.StreamDecoder(json_tool="json_response")
    chunks = [c for e in events for c in decoder.feed(ServerSentEvent(json.dumps(e), e["type"]))]
    chunks += decoder.close()
    assert "".join(c.delta for c in chunks) == "{}"
    assert chunks[-1].finish_reason is FinishReason.STOP
    # Without the tool call the held text is given back before the terminal chunk.
    decoder = _codec.StreamDecoder(json_tool="json_response")
    kept = [e for e in events if e.get("index") != 1]
    chunks = [c for e in kept for c in decoder.feed(ServerSentEvent(json.dumps(e), e["type"]))]
    assert "".join(c.delta for c in chunks) == "Sure:"


# --------------------------------------------------------------------------- spec


def test_spec_declares_auth_headers_and_pricing_date():
    assert SPEC.auth.headers_for("k") == {"x-api-key": "k"}
    assert SPEC.default_headers == {"anthropic-version": "2023-06-01"}
    assert SPEC.pricing_date == PRICING_DATE
    assert all(m.pricing is not None and m.pricing.cache_read is not None for m in SPEC.models)
    assert len({m.id for m in SPEC.models}) == len(SPEC.models)


def test_sonnet_long_context_tier_prices_whole_call():
    pricing = SPEC.model("claude-sonnet-4-5").pricing
    short = calculate_cost(Usage(input_tokens=200_000, output_tokens=1000), pricing)
    long = calculate_cost(
        Usage(input_tokens=200_001, output_tokens=1000, cache_read_tokens=100_000), pricing
    )
    assert short.input == Decimal("0.6")
    assert short.output == Decimal("0.015")
    assert long.input == Decimal(100001) * Decimal("0.000006")
    assert long.cache_read == Decimal("0.06")
    assert long.output == Decimal("0.0225")
    haiku = SPEC.model("claude-haiku-4-5").pricing
    assert haiku.tiers == ()


def test_import_is_cheap():
    code = "import sys, lmux_plug_anthropic; print('aiohttp' in sys.modules, 'lmux_plug_anthropic._codec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_budget_above_the_models_output_limit_stays_within_it():
    # Opus 4.1 writes at most 32,000 tokens: max_tokens above it is refused by the API.
    request = ChatRequest(
        model="claude-opus-4-1-20250805", messages=[UserMessage("q")], reasoning_effort="xhigh"
    )
    body = _codec.encode_chat(request, SPEC)
    assert body["max_tokens"] == 32_000
    assert body["thinking"]["budget_tokens"] == 32_000 - 4096
