"""The sans-IO codec: encoding rules, decoding dialects, and Hypothesis properties."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import struct
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lmux_plug_openai import _codec
from lmux_plug_openai._codec import ChatStreamDecoder
from lmux_plug_openai._codec import decode_chat
from lmux_plug_openai._codec import decode_embed
from lmux_plug_openai._codec import encode_chat
from lmux_plug_openai._codec import encode_embed
from lmux_plug_openai._providers import MISTRAL
from lmux_plug_openai._providers import OPENAI
from lmux_plug_openai._providers import OPENROUTER
from lmux_plug_openai._providers import PROVIDERS

from lmux_plug import AssistantMessage
from lmux_plug import AuthenticationError
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import DeveloperMessage
from lmux_plug import EmbeddingRequest
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import FunctionDefinition
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import RateLimitError
from lmux_plug import SystemMessage
from lmux_plug import Tool
from lmux_plug import ToolCall
from lmux_plug import ToolChoice
from lmux_plug import UserMessage
from lmux_plug.convert import to_messages
from lmux_plug.testing import strategies as lst
from lmux_plug.testing.streams import in_pieces
from lmux_plug.testing.streams import same_under_any_split

PLAIN = ProviderSpec(name="plain", wire="openai", base_url="http://127.0.0.1:1/v1")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def request(**kwargs: Any) -> ChatRequest:
    kwargs.setdefault("model", "m")
    kwargs.setdefault("messages", [UserMessage("hi")])
    return ChatRequest(**kwargs)


# --------------------------------------------------------------------------- encoding


def test_encode_full_request() -> None:
    tool = Tool(
        FunctionDefinition(
            "lookup", "find things", {"type": "object", "properties": {}}, strict=True
        )
    )
    body = encode_chat(
        request(
            temperature=0.5,
            top_p=0.9,
            max_tokens=20,
            stop=("END",),
            seed=1,
            tools=(tool,),
            tool_choice=ToolChoice.function("lookup"),
            response_format=JsonObjectResponseFormat(),
            reasoning_effort="low",
            user="me",
            extra={"logprobs": True, "temperature": 0.1},
        ),
        PLAIN,
        stream=True,
    )
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.1,  # extra wins
        "top_p": 0.9,
        "max_tokens": 20,
        "stop": ["END"],
        "seed": 1,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "find things",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_object"},
        "reasoning_effort": "low",
        "user": "me",
        "stream": True,
        "stream_options": {"include_usage": True},
        "logprobs": True,
    }


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("o1", "max_completion_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("o4-mini-2025-04-16", "max_completion_tokens"),
        ("gpt-5", "max_completion_tokens"),
        ("gpt-5.1-mini", "max_completion_tokens"),
        ("gpt-4o", "max_tokens"),
        ("gpt-4.1-mini", "max_tokens"),
        ("omni-moderation", "max_tokens"),
    ],
)
def test_max_tokens_field_for_openai(model: str, field: str) -> None:
    body = encode_chat(request(model=model, max_tokens=5), OPENAI)
    assert body[field] == 5
    assert len([k for k in body if k.startswith("max_")]) == 1


def test_dialect_switches() -> None:
    mistral = encode_chat(request(seed=4), MISTRAL, stream=True)
    assert mistral["random_seed"] == 4
    assert "stream_options" not in mistral
    openrouter = encode_chat(request(reasoning_effort="high"), OPENROUTER)
    assert openrouter["reasoning"] == {"effort": "high"}
    assert openrouter["usage"] == {"include": True}
    # The request's own fields win over default_body.
    overridden = encode_chat(request(extra={"usage": {"include": False}}), OPENROUTER)
    assert overridden["usage"] == {"include": False}
    developer = request(messages=[DeveloperMessage("rules"), UserMessage("hi")])
    assert encode_chat(developer, OPENAI)["messages"][0]["role"] == "developer"
    assert encode_chat(developer, PLAIN)["messages"][0]["role"] == "system"


def test_json_schema_format() -> None:
    body = encode_chat(
        request(
            response_format=JsonSchemaResponseFormat("Thing", {"type": "object"}, description="d")
        ),
        PLAIN,
    )
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "Thing",
            "schema": {"type": "object"},
            "strict": True,
            "description": "d",
        },
    }


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"messages": []}, "messages must not be empty"),
        ({"model": ""}, "model id"),
        ({"temperature": 3.0}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tools": (Tool(FunctionDefinition("bad name!")),)}, "tool name"),
        ({"response_format": JsonSchemaResponseFormat("", {})}, "response_format name"),
        ({"messages": [UserMessage((ImageContent("ftp://x/y.png"),))]}, "image url"),
        ({"messages": [UserMessage((FileContent(),))]}, "file part"),
        ({"messages": [UserMessage(())]}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "dict, not Message"}]}, "must be a Message"),
        (
            {"messages": [AssistantMessage(tool_calls=(ToolCall("1", "no spaces allowed"),))]},
            "tool call name",
        ),
        ({"extra": {"when": object()}}, "JSON-serialisable"),
        ({"tool_choice": ToolChoice(mode="function")}, "function name"),
        ({"tool_choice": ToolChoice.function("lookup")}, "no tools were given"),
        ({"tool_choice": ToolChoice(mode="required")}, "no tools were given"),
        ({"extra": {"weight": float("nan")}}, "JSON-serialisable"),
    ],
)
def test_bad_input_is_rejected_before_io(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        encode_chat(request(**changes), PLAIN)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_a_tool_choice_asking_nothing_is_left_out_without_tools(mode: str) -> None:
    # The API answers 400 to any tool_choice without tools; auto and none change nothing then.
    assert "tool_choice" not in encode_chat(request(tool_choice=ToolChoice(mode=mode)), PLAIN)


def test_empty_assistant_turn_gets_empty_content() -> None:
    body = encode_chat(
        request(messages=[UserMessage("a"), AssistantMessage(), UserMessage("b")]), PLAIN
    )
    assert body["messages"][1] == {"role": "assistant", "content": ""}


def test_encode_embed() -> None:
    body = encode_embed(
        EmbeddingRequest("e", ["a"], dimensions=8, encoding_format="base64", extra={"user": "u"}),
        PLAIN,
    )
    assert body == {
        "model": "e",
        "input": ["a"],
        "dimensions": 8,
        "encoding_format": "base64",
        "user": "u",
    }
    with pytest.raises(InvalidRequestError):
        encode_embed(EmbeddingRequest("e", []), PLAIN)
    with pytest.raises(InvalidRequestError):
        encode_embed(EmbeddingRequest("e", ["a"], dimensions=0), PLAIN)
    with pytest.raises(InvalidRequestError):
        encode_embed(EmbeddingRequest("e", ["a"], encoding_format="int8"), PLAIN)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- decoding


def answer(message: dict[str, Any], finish: Any = "stop", usage: Any = None, **top: Any) -> bytes:
    body = {
        "model": "m-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        **top,
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stop", FinishReason.STOP),
        ("length", FinishReason.LENGTH),
        ("model_length", FinishReason.LENGTH),
        ("tool_calls", FinishReason.TOOL_CALLS),
        ("function_call", FinishReason.TOOL_CALLS),
        ("content_filter", FinishReason.CONTENT_FILTER),
        ("eos", FinishReason.STOP),
        ("something_new", FinishReason.OTHER),
        (None, FinishReason.STOP),
    ],
)
def test_finish_reasons(raw: Any, expected: FinishReason) -> None:
    assert decode_chat(answer({"content": "x"}, raw)).finish_reason is expected


def test_decode_usage_dialects_and_thinking() -> None:
    deepseek = decode_chat(
        answer(
            {"content": "a", "reasoning_content": "thought"},
            usage={"prompt_tokens": 10, "completion_tokens": 4, "prompt_cache_hit_tokens": 6},
        )
    )
    assert deepseek.usage.cache_read_tokens == 6
    assert deepseek.thinking[0].text == "thought"
    mistral = decode_chat(
        answer(
            {
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                    {"type": "text", "text": "ok"},
                ]
            }
        )
    )
    assert (mistral.content, mistral.thinking[0].text) == ("ok", "hmm")
    odd = decode_chat(
        answer({"content": "x"}, usage={"prompt_tokens": None, "completion_tokens": -3})
    )
    assert (odd.usage.input_tokens, odd.usage.output_tokens) == (0, 0)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"])
def test_decode_reads_every_json_encoding(encoding: str) -> None:
    # UTF-8 skips json's encoding sniffing; the others must still be sniffed as before.
    text = answer({"content": "h\u00e9 \u2603"}, usage={"prompt_tokens": 2}).decode()
    response = decode_chat(text.encode(encoding))
    assert (response.content, response.usage.input_tokens) == ("h\u00e9 \u2603", 2)


def test_decode_keeps_lone_surrogates_like_json_loads() -> None:
    body = b'{"model": "m-\xed\xa0\x80", "choices": [{"message": {"content": "x"}}]}'
    assert decode_chat(body).model == json.loads(body)["model"]


def test_decode_accepts_any_mapping_and_header_case() -> None:
    parsed = json.loads(answer({"content": "x"}, usage={"prompt_tokens": 3}))
    frozen = MappingProxyType(
        {
            **parsed,
            "choices": [MappingProxyType({**parsed["choices"][0]})],
            "usage": MappingProxyType(parsed["usage"]),
        }
    )
    headers = MappingProxyType({"X-Request-ID": "req-9", "Content-Type": "application/json"})
    for body in (parsed, frozen):
        response = decode_chat(body, headers)
        assert (response.content, response.usage.input_tokens) == ("x", 3)
        assert response.request_id == "req-9"
        assert response.headers == {"x-request-id": "req-9", "content-type": "application/json"}


def test_decode_azure_filtered_choice_without_message() -> None:
    response = decode_chat(
        json.dumps({"model": "m", "choices": [{"finish_reason": "content_filter", "index": 0}]})
    )
    assert response.content is None
    assert response.finish_reason is FinishReason.CONTENT_FILTER


def test_openrouter_cost_is_exposed() -> None:
    usage = {
        "prompt_tokens": 17,
        "completion_tokens": 2177,
        "cost": 0.00435825,
        "cost_details": {"upstream_inference_prompt_cost": 4.25e-06},
    }
    response = decode_chat(answer({"content": "x"}, usage=usage), options=OPENROUTER.options)
    assert response.cost is not None
    assert response.cost.total == Decimal("0.00435825")
    assert response.cost.input == Decimal("0.00000425")
    # Without the switch a 'cost' field is not trusted.
    assert decode_chat(answer({"content": "x"}, usage=usage)).cost is None


def test_error_bodies_and_malformed_answers() -> None:
    with pytest.raises(RateLimitError):
        decode_chat(json.dumps({"error": {"message": "slow down", "code": 429}}))
    with pytest.raises(AuthenticationError):
        decode_chat(json.dumps({"error": {"message": "who?", "type": "authentication_error"}}))
    with pytest.raises(ProviderError, match="malformed JSON"):
        decode_chat(b"<html>")
    with pytest.raises(ProviderError, match="no choices"):
        decode_chat(b'{"choices": []}')


def test_decode_embed_order_base64_and_count() -> None:
    packed = base64.b64encode(struct.pack("<2f", 1.5, -2.0)).decode()
    body = {
        "data": [{"index": 1, "embedding": [3, 4]}, {"index": 0, "embedding": packed}],
        "usage": {"prompt_tokens": 2},
    }
    response = decode_embed(json.dumps(body), {"X-Request-Id": "r"}, expected=2)
    assert response.embeddings == ((1.5, -2.0), (3.0, 4.0))
    assert response.request_id == "r"
    with pytest.raises(ProviderError, match="1 embeddings for 2 inputs"):
        decode_embed(json.dumps({"data": [{"index": 0, "embedding": [1.0]}]}), expected=2)
    with pytest.raises(ProviderError, match="base64"):
        decode_embed(json.dumps({"data": [{"index": 0, "embedding": "!!"}]}))
    for bad in ([1.0, True], [1.0, "2"], [None]):
        with pytest.raises(ProviderError, match="neither a float list nor base64"):
            decode_embed({"data": [{"index": 0, "embedding": bad}]})


def test_decode_embed_accepts_number_subclasses() -> None:
    class Score(float):
        pass

    body = {"data": [{"index": 0, "embedding": [Score(0.5), 2, -1.25]}]}
    assert decode_embed(body).embeddings == ((0.5, 2.0, -1.25),)
    with pytest.raises(ProviderError, match="float32"):
        decode_embed(
            json.dumps({"data": [{"index": 0, "embedding": base64.b64encode(b"abc").decode()}]})
        )


# --------------------------------------------------------------------------- streams


def sse(*payloads: Any, done: bool = True, newline: str = "\n") -> bytes:
    out = "".join(f"data: {json.dumps(p)}{newline}{newline}" for p in payloads)
    if done:
        out += f"data: [DONE]{newline}{newline}"
    return out.encode()


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"model": "m-1", "choices": choices, **top}


def decode_all(body: bytes, **kwargs: Any) -> list[ChatChunk]:
    decoder = ChatStreamDecoder(**kwargs)
    return [*decoder.feed(body), *decoder.close()]


def test_stream_merges_late_usage_into_the_terminal_chunk() -> None:
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}),
        chunk({}, "stop"),
        chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 1}),
    )
    chunks = decode_all(body, headers={"X-Request-Id": "req_1"})
    assert [c.delta for c in chunks] == ["Hi", ""]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.input_tokens == 3
    assert {c.request_id for c in chunks} == {"req_1"}
    assert {c.model for c in chunks} == {"m-1"}


def test_stream_groq_usage_and_repeated_finish() -> None:
    body = sse(
        chunk({"content": "a"}, "length"),
        chunk({}, "length", x_groq={"usage": {"prompt_tokens": 5, "completion_tokens": 1}}),
    )
    chunks = decode_all(body)
    assert [c.finish_reason for c in chunks] == [None, FinishReason.LENGTH]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.input_tokens == 5


def test_stream_without_done_after_finish_ends_normally() -> None:
    chunks = decode_all(sse(chunk({"content": "x"}), chunk({}, "stop"), done=False))
    assert chunks[-1].finish_reason is FinishReason.STOP


@pytest.mark.parametrize(
    "body", [b"", sse(chunk({"content": "x"}), done=False), b'data: {"choices": []']
)
def test_truncated_streams_raise(body: bytes) -> None:
    with pytest.raises(ProviderError, match=r"truncated|ended before"):
        decode_all(body)


def test_stream_errors() -> None:
    decoder = ChatStreamDecoder(provider="p", headers={"x-request-id": "r9"})
    first = decoder.feed(
        sse(chunk({"content": "ok"}), done=False)
        + b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n'
    )
    assert [c.delta for c in first] == ["ok"]  # what came before the error is handed out
    with pytest.raises(ProviderError) as caught:
        decoder.feed(b"")
    assert caught.value.status_code == 500
    assert caught.value.request_id == "r9"
    assert decoder.feed(b"data: [DONE]\n\n") == []  # nothing after an error
    with pytest.raises(InvalidRequestError):
        decode_all(b'event: error\ndata: {"error": {"message": "bad", "status_code": 400}}\n\n')
    with pytest.raises(ProviderError, match="upstream went away"):
        decode_all(b"event: error\ndata: upstream went away\n\n")
    with pytest.raises(ProviderError, match="malformed stream chunk"):
        decode_all(b"data: {nope\n\n")


def test_stream_ignores_comments_and_data_after_done() -> None:
    body = (
        b": OPENROUTER PROCESSING\n\n"
        + sse(chunk({"content": "x"}, "stop"))
        + sse(chunk({"content": "late"}))
    )
    chunks = decode_all(body)
    assert [c.delta for c in chunks] == ["x", ""]


def test_stream_reasoning_and_mistral_style_tool_calls() -> None:
    body = sse(
        chunk({"reasoning_content": "think"}),
        chunk({"reasoning": " more"}),
        chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk(
            {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": {"k": 1}}}]},
            "tool_calls",
        ),
    )
    chunks = decode_all(body)
    assert "".join(c.thinking_delta for c in chunks) == "think more"
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [(d.index, d.id, d.name, d.arguments) for d in deltas] == [
        (0, "a", "f", "{}"),
        (1, "b", "g", '{"k": 1}'),
    ]


def test_stream_answered_with_an_error_body() -> None:
    with pytest.raises(RateLimitError):
        decode_all(
            json.dumps({"error": {"message": "quota", "code": "insufficient_quota"}}).encode()
        )
    with pytest.raises(ProviderError, match="neither SSE nor JSON"):
        decode_all(b"<html>bad gateway</html>")


# --------------------------------------------------------------------------- properties


_TEXT = st.text(max_size=12)  # includes multi-byte characters, so splits land inside them


@st.composite
def stream_bodies(draw: st.DrawFn) -> tuple[bytes, str, str, dict[int, str]]:
    """An SSE body with text, reasoning and tool-call deltas, comments and either line end."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    events: list[str] = []
    text = thinking = ""
    arguments: dict[int, str] = {}
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "thinking", "tool", "comment"]))
        if kind == "comment":
            events.append(f": keep-alive{newline}{newline}")
            continue
        if kind == "tool":
            index = draw(st.integers(0, 2))
            piece = draw(_TEXT)
            arguments[index] = arguments.get(index, "") + piece
            delta: dict[str, Any] = {
                "tool_calls": [{"index": index, "function": {"arguments": piece}}]
            }
        elif kind == "thinking":
            piece = draw(_TEXT)
            thinking += piece
            delta = {"reasoning_content": piece}
        else:
            piece = draw(_TEXT)
            text += piece
            delta = {"content": piece}
        events.append(
            f"data: {json.dumps(chunk(delta), ensure_ascii=draw(st.booleans()))}{newline}{newline}"
        )
    events.append(f"data: {json.dumps(chunk({}, 'stop'))}{newline}{newline}")
    if draw(st.booleans()):
        events.append(
            f"data: {json.dumps(chunk(None, usage={'prompt_tokens': 2, 'completion_tokens': 3}))}{newline}{newline}"
        )
    events.append(f"data: [DONE]{newline}{newline}")
    return "".join(events).encode(), text, thinking, arguments


@settings(max_examples=150, deadline=None)
@given(stream_bodies(), st.lists(st.integers(0, 10_000), max_size=12))
def test_stream_decoding_is_independent_of_byte_splits(
    generated: tuple[bytes, str, str, dict[int, str]], cuts: list[int]
) -> None:
    body, text, thinking, arguments = generated

    whole = same_under_any_split(in_pieces(ChatStreamDecoder), body, cuts)
    assert "".join(c.delta for c in whole) == text
    assert "".join(c.thinking_delta for c in whole) == thinking
    joined: dict[int, str] = {}
    for c in whole:
        for d in c.tool_call_deltas:
            joined[d.index] = joined.get(d.index, "") + d.arguments
    assert joined == {k: v for k, v in arguments.items() if k in joined}
    assert whole[-1].finish_reason is FinishReason.STOP


def _loads_outcome(loads: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", loads(text)
    except ValueError as exc:
        return "error", str(exc)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        lst.json_values(max_leaves=10).map(json.dumps),
        st.text(alphabet=' \t\r\n{}[]":,0123456789.eE+-truefalsnl\ufeff', max_size=30),
    ),
    st.sampled_from(["", " ", "\n", " \t\r\n", "\x0b", " x", "{}"]),
)
def test_loads_json_gives_what_json_loads_gives(text: str, tail: str) -> None:
    # The fast path must accept, reject and fail exactly as json.loads does, for text
    # and for bytes in the encodings json.loads detects (and bytes that are not text).
    for candidate in (text, text + tail, tail + text):
        encoded = [candidate.encode(e, "surrogatepass") for e in ("utf-8", "utf-16", "utf-32-le")]
        for value in (candidate, *encoded, candidate.encode() + b"\xff"):
            assert _loads_outcome(_codec.loads_json, value) == _loads_outcome(json.loads, value)


def test_stream_chunks_of_the_common_shape_and_odd_ones() -> None:
    body = sse(
        chunk({"content": "a", "reasoning": "r"}),
        chunk({"content": [{"type": "text", "text": "b"}, {"type": "thinking", "thinking": "t"}]}),
        {"model": "", "choices": [{"delta": None}]},  # no text: no chunk, model kept
        {"model": 7, "choices": {"0": {"delta": {"content": "never"}}}},  # not a list
        {"choices": ["not an object"]},
        chunk({"content": "c"}, usage={"prompt_tokens": 4, "completion_tokens": 2}),
        chunk({}, "stop", usage=None),
    )
    chunks = decode_all(body)
    assert [(c.delta, c.thinking_delta, c.model) for c in chunks] == [
        ("a", "r", "m-1"),
        ("b", "t", "m-1"),
        ("c", "", "m-1"),
        ("", "", "m-1"),
    ]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.input_tokens == 4
    with pytest.raises(ProviderError, match="not a JSON object"):
        decode_all(b"data: [1, 2]\n\n")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 50))
def test_arbitrary_bytes_give_chunks_or_an_lmux_error(body: bytes, piece: int) -> None:
    decoder = ChatStreamDecoder()
    try:
        for start in range(0, len(body), piece):
            decoder.feed(body[start : start + piece])
        decoder.close()
    except LmuxError:
        pass


@settings(max_examples=100, deadline=None)
@given(lst.json_values(max_leaves=20))
def test_arbitrary_json_decodes_or_raises_an_lmux_error(value: Any) -> None:
    for body in (value, {"choices": [value]}, {"choices": [{"message": value}]}, {"data": value}):
        with contextlib.suppress(LmuxError):
            decode_chat(json.dumps(body))
        with contextlib.suppress(LmuxError):
            decode_embed(json.dumps(body))


def _normalised(messages: list[Any]) -> tuple[Any, ...]:
    """What the OpenAI shape keeps of each message (fields it has no place for are dropped)."""
    out = []
    for message in messages:
        if (
            isinstance(message, AssistantMessage)
            and message.content is None
            and not message.tool_calls
        ):
            message = attrs.evolve(message, content="")  # noqa: PLW2901
        out.append(message)
    return tuple(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lst.messages(),
    st.none() | st.lists(lst.tools(), max_size=2),
    st.none() | lst.response_formats(),
    st.sampled_from(PROVIDERS),
)
def test_arbitrary_messages_encode_and_round_trip(
    messages: list[Any], tools: list[Tool] | None, response_format: Any, spec: ProviderSpec
) -> None:
    req = request(messages=messages, tools=tools or None, response_format=response_format)
    body = encode_chat(req, OPENAI)
    assert json.loads(json.dumps(body, allow_nan=False)) == body
    assert len(body["messages"]) == len(messages)
    # The OpenAI-shaped messages read back as the same typed messages.
    assert to_messages(body["messages"]) == _normalised(messages)
    # Every declared dialect encodes the same request into a valid body too.
    dialect = encode_chat(req, spec, stream=True)
    assert dialect["stream"] is True
    assert [m["role"] for m in dialect["messages"]] == [
        "system"
        if (m["role"] == "developer" and not spec.options.get("developer_role"))
        else m["role"]
        for m in body["messages"]
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(UserMessage, st.text(max_size=5)),
            st.builds(SystemMessage, st.text(max_size=5)),
            st.integers(),
            st.none(),
            st.text(max_size=3),
        ),
        max_size=4,
    ),
    st.text(max_size=70),
    st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-3, 3)),
)
def test_arbitrary_input_gives_a_valid_body_or_invalid_request(
    messages: list[Any], tool_name: str, temperature: Any
) -> None:
    try:
        req = ChatRequest(
            model="m",
            messages=messages,
            tools=(Tool(FunctionDefinition(tool_name)),),
            temperature=temperature,
        )
    except (TypeError, ValueError):
        return  # attrs refused it before the codec saw it
    try:
        body = encode_chat(req, PLAIN)
    except InvalidRequestError as exc:
        message = str(exc)
        assert message
        return
    assert messages
    assert all(isinstance(m, (UserMessage, SystemMessage)) for m in messages)
    assert NAME.match(tool_name)
    assert temperature is None or 0 <= temperature <= 2
    json.dumps(body, allow_nan=False)


def test_is_reasoning_model_sees_through_prefixes() -> None:
    assert _codec.is_reasoning_model("openai/o3-mini")
    assert not _codec.is_reasoning_model("openai/gpt-4o")
