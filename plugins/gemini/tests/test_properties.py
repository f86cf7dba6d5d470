"""Hypothesis properties of the Gemini codec (offline)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_gemini._codec import GeminiStreamDecoder
from lmux_plug_gemini._codec import encode_chat

from lmux_plug import ChatRequest
from lmux_plug import FinishReason
from lmux_plug.testing.strategies import chat_requests
from lmux_plug.testing.strategies import messages
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split

_DATA_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)


def _assert_valid_body(body: dict[str, Any]) -> None:
    json.dumps(body)  # serialisable
    contents = body["contents"]
    assert contents
    roles = [c["role"] for c in contents]
    assert set(roles) <= {"user", "model"}
    assert all(a != b for a, b in itertools.pairwise(roles)), "roles must alternate"
    for content in contents:
        assert content["parts"]
        for part in content["parts"]:
            fields = _DATA_FIELDS & set(part)
            assert len(fields) == 1, part
            if "text" in part:
                assert part["text"]
            if "functionResponse" in part:
                assert part["functionResponse"]["name"]
                assert isinstance(part["functionResponse"]["response"], dict)
            if "functionCall" in part:
                assert isinstance(part["functionCall"]["args"], dict)
    if "systemInstruction" in body:
        assert body["systemInstruction"]["parts"][0]["text"]


@given(messages(max_size=8))
@settings(deadline=None, max_examples=300)
def test_any_messages_encode_or_raise_invalid_request(
    encoded_or_refused: Callable[..., Any], msgs: list[Any]
) -> None:
    body = encoded_or_refused(
        lambda: encode_chat(ChatRequest(model="gemini-2.5-flash", messages=msgs))
    )
    if body is not None:
        _assert_valid_body(body)


@given(chat_requests())
@settings(deadline=None, max_examples=200)
def test_any_request_encodes_or_raises_invalid_request(
    encoded_or_refused: Callable[..., Any], request: ChatRequest
) -> None:
    body = encoded_or_refused(lambda: encode_chat(request))
    if body is None:
        return
    _assert_valid_body(body)
    config = body.get("generationConfig", {})
    if request.max_tokens is not None:
        assert config["maxOutputTokens"] == request.max_tokens
    if request.stop:
        assert config["stopSequences"] == list(request.stop)


# --------------------------------------------------------------------------- streams


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Any]]]:
    """A Gemini stream body (SSE or JSON array) and the events in it."""
    events: list[dict[str, Any]] = []
    count = draw(st.integers(1, 6))
    for i in range(count):
        parts: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["text", "thought", "call"]))
            if kind == "call":
                parts.append(
                    {
                        "functionCall": {
                            "name": draw(st.sampled_from(["f", "g_1"])),
                            "args": {"x": draw(_words)},
                        },
                        "thoughtSignature": draw(st.sampled_from(["c2ln", "QUJD"])),
                    }
                )
            else:
                parts.append(
                    {"text": draw(_words), **({"thought": True} if kind == "thought" else {})}
                )
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if i == count - 1:
            candidate["finishReason"] = draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"]))
        events.append(
            {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": 7,
                    "candidatesTokenCount": i + 1,
                    "thoughtsTokenCount": 3,
                },
                "responseId": "resp-1",
                "modelVersion": "gemini-2.5-flash",
            }
        )
    if draw(st.booleans()):
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        body = "".join(
            f"data: {json.dumps(e, ensure_ascii=False)}{newline}{newline}" for e in events
        )
    else:
        body = "[" + ",\r\n".join(json.dumps(e, ensure_ascii=False, indent=2) for e in events) + "]"
    return body.encode(), events


_decode = in_pieces(lambda: GeminiStreamDecoder(model="gemini-2.5-flash"))


@given(_streams(), st.lists(st.integers(0, 10_000), max_size=12))
@settings(deadline=None, max_examples=300)
def test_stream_decoding_is_identical_under_any_byte_split(
    stream: tuple[bytes, list[dict[str, Any]]], cuts: list[int]
) -> None:
    body, events = stream
    whole = same_under_any_split(_decode, body, cuts)
    parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
    assert "".join(c.delta for c in whole) == "".join(
        p["text"] for p in parts if "text" in p and not p.get("thought")
    )
    assert "".join(c.thinking_delta for c in whole) == "".join(
        p["text"] for p in parts if p.get("thought")
    )
    calls = [p for p in parts if "functionCall" in p]
    deltas = [d for c in whole for d in c.tool_call_deltas]
    assert [(d.name, json.loads(d.arguments), d.signature) for d in deltas] == [
        (p["functionCall"]["name"], p["functionCall"]["args"], p["thoughtSignature"]) for p in calls
    ]
    usage = whole[-1].usage
    assert usage is not None
    assert usage.input_tokens == 7
    assert usage.output_tokens == len(events) + 3
    if calls and events[-1]["candidates"][0]["finishReason"] == "STOP":
        assert whole[-1].finish_reason is FinishReason.TOOL_CALLS
