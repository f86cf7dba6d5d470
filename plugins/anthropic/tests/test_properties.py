"""Hypothesis properties of the codec: byte-split invariance and request validity."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_anthropic import SPEC
from lmux_plug_anthropic import _codec

from lmux_plug import ChatRequest
from lmux_plug import FinishReason
from lmux_plug import ToolMessage
from lmux_plug import UserMessage
from lmux_plug.errors import LmuxError
from lmux_plug.testing.strategies import messages
from lmux_plug.testing.strategies import response_formats
from lmux_plug.testing.strategies import tools

_texts = st.text(min_size=1, max_size=30)
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=10)


@st.composite
def recorded_shaped_streams(draw: st.DrawFn) -> bytes:
    """SSE bodies shaped like the recorded ones: event lines, padded JSON, ping, all blocks."""
    blocks = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("text"), st.lists(_texts, min_size=1, max_size=4)),
                st.tuples(st.just("thinking"), st.lists(_texts, min_size=1, max_size=3)),
                st.tuples(
                    st.just("tool_use"),
                    st.dictionaries(_ids, st.integers() | _texts, max_size=3).map(json.dumps),
                ),
            ),
            max_size=4,
        )
    )
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "model": "claude-haiku-4-5-20251001",
                "id": "msg_x",
                "type": "message",
                "role": "assistant",
                "content": [],
                "usage": {
                    "input_tokens": draw(st.integers(0, 10_000)),
                    "cache_read_input_tokens": draw(st.integers(0, 10_000)),
                    "cache_creation_input_tokens": draw(st.integers(0, 10_000)),
                    "output_tokens": 1,
                },
            },
        },
        {"type": "ping"},
    ]
    for index, (kind, payload) in enumerate(blocks):
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in payload]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": t} for t in payload]
            deltas.append({"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
        else:
            start = {"type": "tool_use", "id": f"toolu_{index}", "name": "f", "input": {}}
            cut = draw(st.integers(0, len(payload)))
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in (payload[:cut], payload[cut:])
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": draw(st.sampled_from(["end_turn", "tool_use", "max_tokens"]))},
            "usage": {"output_tokens": draw(st.integers(0, 5000))},
        }
    )
    events.append({"type": "message_stop"})
    # The recordings pad the JSON with spaces before the line end; so do we.
    pad = draw(st.sampled_from(["", " ", "     "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return "".join(
        f"event: {e['type']}{newline}data: {json.dumps(e, ensure_ascii=False)}{pad}{newline}{newline}"
        for e in events
    ).encode()


@given(body=recorded_shaped_streams(), data=st.data())
@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_stream_decoder_is_split_invariant(body: bytes, data: st.DataObject) -> None:
    whole = _codec.StreamDecoder()
    expected = whole.feed_bytes(body) + whole.close()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=40)))
    split = _codec.StreamDecoder()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=False):
        got.extend(split.feed_bytes(body[start:end]))
    got.extend(split.close())
    assert got == expected
    terminal = [c for c in expected if c.finish_reason is not None]
    assert len(terminal) == 1
    assert terminal[0] is expected[-1]
    assert terminal[0].finish_reason in {
        FinishReason.STOP,
        FinishReason.TOOL_CALLS,
        FinishReason.LENGTH,
    }


def _decode_all(body: bytes) -> list[Any]:
    decoder = _codec.StreamDecoder()
    return decoder.feed_bytes(body) + decoder.close()


@given(body=recorded_shaped_streams(), data=st.data())
@settings(deadline=None, max_examples=60)
def test_any_prefix_without_message_stop_is_truncated(body: bytes, data: st.DataObject) -> None:
    end = body.index(b"event: message_stop")
    cut = data.draw(st.integers(0, end))
    with pytest.raises(LmuxError, match=r"truncated|malformed"):
        _decode_all(body[:cut])


# --------------------------------------------------------------------------- requests

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def assert_valid_body(body: dict[str, Any]) -> None:
    """What the Messages API accepts, as far as the shape of a request goes."""
    json.dumps(body)  # serialisable
    assert isinstance(body["model"], str)
    assert isinstance(body["max_tokens"], int)
    assert body["max_tokens"] >= 1
    for block in body.get("system", []):
        assert block["type"] == "text"
        assert block["text"].strip()
    turns = body["messages"]
    assert turns
    assert turns[0]["role"] == "user"
    for previous, turn in itertools.pairwise(turns):
        assert previous["role"] != turn["role"], "roles must alternate"
    cache_marks = sum("cache_control" in b for b in body.get("system", []))
    for index, turn in enumerate(turns):
        assert turn["role"] in ("user", "assistant")
        assert turn["content"], "no empty turns"
        kinds = [b["type"] for b in turn["content"]]
        if "tool_result" in kinds:
            first_other = next((i for i, k in enumerate(kinds) if k != "tool_result"), len(kinds))
            assert all(k != "tool_result" for k in kinds[first_other:]), "tool results lead"
        for block in turn["content"]:
            cache_marks += "cache_control" in block
            if block["type"] == "text":
                assert block["text"].strip()
            elif block["type"] == "tool_use":
                assert turn["role"] == "assistant"
                assert _ID.match(block["id"])
                assert _NAME.match(block["name"])
                assert isinstance(block["input"], dict)
                following = turns[index + 1]["content"] if index + 1 < len(turns) else []
                assert block["id"] in {b.get("tool_use_id") for b in following}
            elif block["type"] == "tool_result":
                assert turn["role"] == "user"
                offered = {b.get("id") for b in turns[index - 1]["content"]} if index else set()
                assert block["tool_use_id"] in offered
            elif block["type"] == "image":
                assert block["source"]["type"] in ("base64", "url")
            elif block["type"] == "document":
                assert block["source"]["type"] in ("base64", "text", "file")
            else:
                assert block["type"] in ("thinking", "redacted_thinking"), block["type"]
    assert cache_marks <= 4
    for tool in body.get("tools", []):
        assert _NAME.match(tool["name"])
        assert tool["input_schema"]["type"] == "object"
    if "tool_choice" in body:
        assert body["tools"]
        if body["tool_choice"]["type"] == "tool":
            assert body["tool_choice"]["name"] in {t["name"] for t in body["tools"]}


@given(msgs=messages(max_size=8))
@settings(deadline=None, max_examples=300)
def test_arbitrary_messages_encode_or_raise_invalid_request(
    msgs: list[Any], encoded_or_refused: Callable[..., Any]
) -> None:
    request = ChatRequest(model="claude-haiku-4-5", messages=msgs)
    body = encoded_or_refused(lambda: _codec.encode_chat(request, SPEC))
    if body is not None:
        assert_valid_body(body)


@st.composite
def answered_conversations(draw: st.DrawFn) -> list[Any]:
    """Conversations that open with a user turn and answer every tool call.

    Most of these must encode; the rest must fail only for reasons the API would refuse
    too (audio parts, whitespace-only turns ...).
    """
    out: list[Any] = [UserMessage(draw(_texts.filter(str.strip)))]
    for message in draw(messages(max_size=6)):
        if isinstance(message, ToolMessage):
            continue  # tool results are added below, right after their calls
        out.append(message)
        out.extend(ToolMessage(draw(_texts), c.id) for c in getattr(message, "tool_calls", ()))
    return out


@given(
    msgs=answered_conversations(),
    tool_list=st.none() | st.lists(tools(), max_size=2, unique_by=lambda t: t.function.name),
    fmt=st.none() | response_formats(),
)
@settings(deadline=None, max_examples=150)
def test_requests_with_tools_and_formats_encode_or_raise(
    msgs: list[Any], tool_list: Any, fmt: Any, encoded_or_refused: Callable[..., Any]
) -> None:
    request = ChatRequest(
        model="claude-sonnet-4-5", messages=msgs, tools=tool_list or None, response_format=fmt
    )
    frozen = repr(request)
    body = encoded_or_refused(lambda: _codec.encode_chat(request, SPEC))
    if body is None:
        return
    assert_valid_body(body)
    assert repr(request) == frozen  # the request and its dicts are not mutated
    if fmt is not None and fmt.type != "text":
        assert body["tools"][-1]["name"] == _codec.JSON_TOOL_NAME
