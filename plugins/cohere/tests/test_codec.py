"""Sans-IO codec properties: streams decode the same under any byte split; unit edge cases."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_cohere import _codec

from lmux_plug import AssistantMessage
from lmux_plug import ChatRequest
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import UserMessage
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split

EVENTS = [
    {"id": "g", "type": "message-start", "delta": {"message": {}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Héllo"}}}},
    {"type": "citation-start", "index": 0, "delta": {"message": {"citations": {"start": 0}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " wörld"}}}},
    {
        "type": "message-end",
        "delta": {
            "finish_reason": "MAX_TOKENS",
            "usage": {"tokens": {"input_tokens": 9, "output_tokens": 2}},
        },
    },
]
STREAM = (
    b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in EVENTS)
    + b"data: [DONE]\r\n\r\n"
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_stream_decodes_the_same_under_any_split(cuts: list[int]) -> None:
    decoders: list[_codec.CohereStreamDecoder] = []

    def make() -> _codec.CohereStreamDecoder:
        decoders.append(_codec.CohereStreamDecoder(model="m"))
        return decoders[-1]

    chunks = same_under_any_split(in_pieces(make), STREAM, cuts)
    assert "".join(c.delta for c in chunks) == "Héllo wörld"
    assert chunks[-1].finish_reason is FinishReason.LENGTH
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.input_tokens == 9
    assert [d.citations for d in decoders] == [[{"start": 0}]] * 2


def test_usage_falls_back_to_billed_units_and_clamps_cache() -> None:
    usage = _codec.usage_of({"billed_units": {"input_tokens": 3, "output_tokens": 1}})
    assert (usage.input_tokens, usage.output_tokens) == (3, 1)
    clamped = _codec.usage_of({"tokens": {"input_tokens": 4}, "cached_tokens": 10})
    assert clamped.cache_read_tokens == 4
    assert _codec.usage_of(None).total_tokens == 0


def test_assistant_thinking_goes_back_as_tool_plan_only_with_tool_calls() -> None:
    thinking = (ThinkingBlock(text="plan"),)
    request = ChatRequest(
        model="m",
        messages=(UserMessage("q"), AssistantMessage(content="answer", thinking=thinking)),
    )
    body = _codec.encode_chat(request)
    assert body["messages"][1] == {"role": "assistant", "content": "answer"}


def test_an_image_part_without_url_is_refused_before_io() -> None:
    message = UserMessage((TextContent("What is this?"), ImageContent(url="")))
    with pytest.raises(InvalidRequestError, match="image part needs a url"):
        _codec.encode_chat(ChatRequest(model="m", messages=(message,)))


def test_finish_reason_complete_with_tool_calls_is_tool_calls() -> None:
    assert _codec.finish_reason_of("COMPLETE", True) is FinishReason.TOOL_CALLS
    assert _codec.finish_reason_of("SOMETHING_NEW", False) is FinishReason.OTHER


def test_bytes_after_message_end_do_not_matter() -> None:
    decoder = _codec.CohereStreamDecoder(model="m")
    end = STREAM.index(b"data: [DONE]")
    chunks = decoder.feed(STREAM[: end + 7])  # "data: [" - a cut inside the sentinel
    assert decoder.done
    assert decoder.finish() == []
    assert [c.finish_reason for c in chunks if c.finish_reason] == [FinishReason.LENGTH]


def test_error_after_good_events_in_one_read_keeps_the_good_chunks() -> None:
    events = [
        {"id": "g", "type": "message-start", "delta": {"message": {}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}},
        {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "boom"}},
    ]
    data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    decoder = _codec.CohereStreamDecoder(model="m")
    chunks = decoder.feed(data)
    assert [c.delta for c in chunks] == ["Hi"]
    with pytest.raises(ProviderError, match="boom"):
        decoder.raise_pending()


def test_tool_call_events_without_index_continue_the_call_they_belong_to() -> None:
    def call(kind: str, body: dict[str, object]) -> dict[str, object]:
        return {"type": kind, "delta": {"message": {"tool_calls": body}}}

    events = [
        call("tool-call-start", {"id": "a", "function": {"name": "f", "arguments": ""}}),
        call("tool-call-delta", {"function": {"arguments": '{"x":'}}),
        call("tool-call-delta", {"function": {"arguments": " 1}"}}),
        call("tool-call-start", {"id": "b", "function": {"name": "g", "arguments": "{}"}}),
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    decoder = _codec.CohereStreamDecoder(model="m")
    chunks = decoder.feed(body.encode()) + decoder.finish()
    deltas = [(d.index, d.id, d.arguments) for c in chunks for d in c.tool_call_deltas]
    assert deltas == [(0, "a", ""), (0, None, '{"x":'), (0, None, " 1}"), (1, "b", "{}")]
