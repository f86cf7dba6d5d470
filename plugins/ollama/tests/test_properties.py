"""Hypothesis properties of the Ollama codec (offline)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_ollama._codec import OllamaStreamDecoder
from lmux_plug_ollama._codec import encode_chat
from lmux_plug_ollama._host import normalise_base_url

from lmux_plug import ChatRequest
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import UnsupportedFeatureError
from lmux_plug.testing.strategies import chat_requests
from lmux_plug.testing.strategies import messages
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split

_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)


def _assert_valid_body(body: dict[str, Any], stream: bool) -> None:
    json.dumps(body)
    assert body["stream"] is stream
    assert body["messages"]
    for message in body["messages"]:
        assert message["role"] in {"system", "user", "assistant", "tool"}
        assert isinstance(message["content"], str)
        assert all(isinstance(i, str) for i in message.get("images", []))
        for call in message.get("tool_calls", []):
            assert isinstance(call["function"]["arguments"], dict)
            assert call["function"]["name"]


@given(messages(max_size=8), st.booleans())
@settings(deadline=None, max_examples=300)
def test_any_messages_encode_or_raise_invalid_request(
    encoded_or_refused: Callable[..., Any], msgs: list[Any], stream: bool
) -> None:
    request = ChatRequest(model="llama3.2", messages=msgs)
    body = encoded_or_refused(lambda: encode_chat(request, stream=stream))
    if body is not None:
        _assert_valid_body(body, stream)


@given(chat_requests())
@settings(deadline=None, max_examples=200)
def test_any_request_encodes_or_raises_a_typed_error(
    encoded_or_refused: Callable[..., Any], request: ChatRequest
) -> None:
    refusals = (InvalidRequestError, UnsupportedFeatureError)
    body = encoded_or_refused(lambda: encode_chat(request, stream=False), *refusals)
    if body is None:
        return
    _assert_valid_body(body, False)
    options = body.get("options", {})
    if request.max_tokens is not None:
        assert options["num_predict"] == request.max_tokens
    if request.seed is not None:
        assert options["seed"] == request.seed


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Any]]]:
    """An NDJSON ``/api/chat`` stream and the lines in it (the last one ``done``)."""
    lines: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        kind = draw(st.sampled_from(["content", "thinking", "call"]))
        if kind == "call":
            message["tool_calls"] = [{"function": {"name": "f", "arguments": {"q": draw(_words)}}}]
        else:
            message[kind] = draw(_words)
        lines.append({"model": "m", "message": message, "done": False})
    lines.append(
        {
            "model": "m",
            "message": {"role": "assistant", "content": draw(st.sampled_from(["", "end"]))},
            "done": True,
            "done_reason": draw(st.sampled_from(["stop", "length"])),
            "prompt_eval_count": 5,
            "eval_count": len(lines),
        }
    )
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    return (body + draw(st.sampled_from(["", "\n"]))).encode(), lines


_decode = in_pieces(lambda: OllamaStreamDecoder(model="m"))


@given(_streams(), st.lists(st.integers(0, 10_000), max_size=12))
@settings(deadline=None, max_examples=300)
def test_stream_decoding_is_identical_under_any_byte_split(
    stream: tuple[bytes, list[dict[str, Any]]], cuts: list[int]
) -> None:
    body, lines = stream
    whole = same_under_any_split(_decode, body, cuts)
    assert "".join(c.delta for c in whole) == "".join(
        line["message"].get("content", "") for line in lines
    )
    assert "".join(c.thinking_delta for c in whole) == "".join(
        line["message"].get("thinking", "") for line in lines
    )
    deltas = [d for c in whole for d in c.tool_call_deltas]
    assert [d.index for d in deltas] == list(range(len(deltas)))
    assert len({d.id for d in deltas}) == len(deltas)
    usage = whole[-1].usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (5, len(lines) - 1)


@given(_streams(), st.integers(1, 10_000))
@settings(deadline=None, max_examples=100)
def test_stream_cut_before_done_raises(
    stream: tuple[bytes, list[dict[str, Any]]], cut: int
) -> None:
    body, _ = stream
    last_line_start = body.rstrip(b"\n").rfind(b"\n") + 1
    decoder = OllamaStreamDecoder(model="m")
    decoder.feed(body[: cut % (last_line_start + 1)])
    with pytest.raises(ProviderError, match="truncated"):
        decoder.finish()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:11434", "http://localhost:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("example.com:8080", "http://example.com:8080"),
        (":9999", "http://localhost:9999"),
        ("https://ollama.com", "https://ollama.com"),
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("[::1]:11500", "http://[::1]:11500"),
    ],
)
def test_ollama_host_spellings(value: str, expected: str) -> None:
    assert normalise_base_url(value) == expected
