"""Sans-IO codec properties: event streams decode the same under any byte split; edge cases."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_bedrock import _codec
from lmux_plug_contract.wires.bedrock import event_frame

from lmux_plug import AssistantMessage
from lmux_plug import ChatRequest
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import ToolCall
from lmux_plug import ToolMessage
from lmux_plug import UserMessage
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split


def _event(name: str, payload: dict[str, object]) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json.dumps(payload).encode())


STREAM = b"".join(
    [
        _event("messageStart", {"role": "assistant"}),
        _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Héllo"}}),
        _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " wörld"}}),
        _event("contentBlockStop", {"contentBlockIndex": 0}),
        _event("messageStop", {"stopReason": "max_tokens"}),
        _event(
            "metadata", {"usage": {"inputTokens": 4, "outputTokens": 2, "cacheWriteInputTokens": 3}}
        ),
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_event_stream_decodes_the_same_under_any_split(cuts: list[int]) -> None:
    decode = in_pieces(lambda: _codec.ConverseStreamDecoder(model="m"))
    chunks = same_under_any_split(decode, STREAM, cuts)
    assert "".join(c.delta for c in chunks) == "Héllo wörld"
    terminal = chunks[-1]
    assert terminal.finish_reason is FinishReason.LENGTH
    assert terminal.usage is not None
    assert terminal.usage.input_tokens == 7
    assert terminal.usage.cache_creation_tokens == 3


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=len(STREAM) - 1))
def test_a_stream_cut_anywhere_is_truncated_not_complete(cut: int) -> None:
    decoder = _codec.ConverseStreamDecoder(model="m")
    decoder.feed(STREAM[:cut])
    if decoder.done:  # cut inside nothing that matters: metadata already complete
        return
    with pytest.raises(ProviderError, match="truncated"):
        decoder.finish()


def test_corrupt_frame_is_provider_error() -> None:
    frame = bytearray(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    frame[-1] ^= 0xFF  # break the message CRC
    decoder = _codec.ConverseStreamDecoder(model="m")
    with pytest.raises(ProviderError, match="corrupt"):
        decoder.feed(bytes(frame))


def test_model_path_quotes_colon_and_slash() -> None:
    assert _codec.model_path("amazon.nova-micro-v1:0") == "amazon.nova-micro-v1%3A0"
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x"
    assert (
        _codec.model_path(arn)
        == "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x"
    )


def test_tool_ids_from_other_providers_are_made_valid_on_both_sides() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            UserMessage("q"),
            AssistantMessage(tool_calls=(ToolCall("call:1/x", "f", "{}"),)),
            ToolMessage("done", tool_call_id="call:1/x"),
        ),
    )
    body = _codec.encode_converse(request)
    assert body["messages"][1]["content"][0]["toolUse"]["toolUseId"] == "call_1_x"
    assert body["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "call_1_x"


def test_tool_history_without_tools_still_declares_the_tools_it_used() -> None:
    # Converse refuses toolUse / toolResult blocks when the request has no toolConfig.
    history = (
        UserMessage("q"),
        AssistantMessage(tool_calls=(ToolCall("c1", "f", "{}"), ToolCall("c2", "g", "{}"))),
        ToolMessage("one", tool_call_id="c1"),
        ToolMessage("two", tool_call_id="c2"),
        AssistantMessage(tool_calls=(ToolCall("c3", "f", "{}"),)),
        ToolMessage("three", tool_call_id="c3"),
        UserMessage("and now?"),
    )
    body = _codec.encode_converse(ChatRequest(model="m", messages=history))
    declared = [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]]
    assert declared == ["f", "g"]
    assert "toolChoice" not in body["toolConfig"]
    plain = _codec.encode_converse(ChatRequest(model="m", messages=(UserMessage("q"),)))
    assert "toolConfig" not in plain


def test_json_object_without_schema_is_refused() -> None:
    from lmux_plug import JsonObjectResponseFormat

    request = ChatRequest(
        model="m", messages=(UserMessage("q"),), response_format=JsonObjectResponseFormat()
    )
    with pytest.raises(InvalidRequestError, match="json_schema"):
        _codec.encode_converse(request)


def test_context_overflow_messages() -> None:
    assert _codec.is_context_overflow("Input is too long for requested model.")
    assert _codec.is_context_overflow("Too many input tokens. Max input tokens: 8192")
    assert not _codec.is_context_overflow("The provided model identifier is invalid.")
