"""Replay every recorded Anthropic exchange under ``../shared/wire/anthropic`` through the codec.

The recordings are read at run time (never copied into the repo). Each one is one test id.
Expectations are computed from the raw recorded body by a small independent reader in this
file, then compared with what the codec decodes: text, tool calls (name + JSON arguments),
thinking (text + signature), usage numbers, finish reason, request id, rate-limit headers;
error responses map to the right error class and status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmux_plug_anthropic import _codec

from lmux_plug import FinishReason
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import skip_without_wire
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir
from lmux_plug.wire import error_from_response

WIRE = wire_dir(Path(__file__).resolve().parents[3], "anthropic")


# --------------------------------------------------------------------------- expectations

_ERROR_CLASSES = {
    "authentication_error": AuthenticationError,
    "permission_error": AuthenticationError,
    "not_found_error": NotFoundError,
    "invalid_request_error": InvalidRequestError,
    "rate_limit_error": RateLimitError,
    "api_error": ProviderError,
    "overloaded_error": ProviderError,
}
_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "pause_turn": FinishReason.OTHER,
}


def _expected_usage(usage: dict[str, Any]) -> tuple[int, int, int, int]:
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    return (usage.get("input_tokens", 0) + read + write, usage["output_tokens"], read, write)


def _expected_from_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    stop = None
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start":
            blocks[event["index"]] = {**event["content_block"], "_json": "", "_text": ""}
        elif kind == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["_text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["_text"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                block["_json"] += delta["partial_json"]
        elif kind == "message_delta":
            stop = event["delta"].get("stop_reason") or stop
            usage.update({k: v for k, v in event["usage"].items() if isinstance(v, int)})
    ordered = [blocks[i] for i in sorted(blocks)]
    return {
        "text": "".join(b["_text"] for b in ordered if b["type"] == "text"),
        "tools": [
            (b["id"], b["name"], json.loads(b["_json"] or "{}"))
            for b in ordered
            if b["type"] == "tool_use"
        ],
        "thinking": [(b["_text"], b.get("signature")) for b in ordered if b["type"] == "thinking"],
        "usage": _expected_usage(usage),
        "finish": _FINISH[stop],
    }


# --------------------------------------------------------------------------- checks


def _check_error(status: int, headers: dict[str, str], body: bytes) -> None:
    data = json.loads(body)
    error = error_from_response(status, headers, body, provider="anthropic")
    assert isinstance(error, _ERROR_CLASSES[data["error"]["type"]])
    assert error.status_code == status
    assert error.message == data["error"]["message"]
    assert error.request_id == headers.get("request-id", data.get("request_id"))
    if headers.get("x-should-retry") == "false":
        assert error.retryable is False


def _check_message(headers: dict[str, str], body: bytes) -> None:
    data = json.loads(body)
    response = _codec.decode_chat(data, headers)
    texts = [b["text"] for b in data["content"] if b["type"] == "text"]
    assert response.content == ("".join(texts) if texts else None)
    tools = [b for b in data["content"] if b["type"] == "tool_use"]
    assert [(c.id, c.name) for c in response.tool_calls] == [(b["id"], b["name"]) for b in tools]
    assert [json.loads(c.arguments) for c in response.tool_calls] == [b["input"] for b in tools]
    thinking = [(b["thinking"], b["signature"]) for b in data["content"] if b["type"] == "thinking"]
    assert [(t.text, t.signature) for t in response.thinking if not t.redacted] == thinking
    usage = response.usage
    got = (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_creation_tokens,
    )
    assert got == _expected_usage(data["usage"])
    assert response.finish_reason is _FINISH[data["stop_reason"]]
    assert response.model == data.get("model")
    _check_headers(response.request_id, response.rate_limits, headers)


def _check_headers(request_id: str | None, rate_limits: Any, headers: dict[str, str]) -> None:
    assert request_id == headers.get("request-id")
    expected = {k: v for k, v in headers.items() if k.startswith("anthropic-ratelimit-")}
    assert {k: v for k, v in rate_limits.items() if k.startswith("anthropic-")} == expected


def _check_stream(headers: dict[str, str], body: bytes) -> None:
    expected = _expected_from_stream(sse_json(body))
    decoder = _codec.StreamDecoder(request_id=headers.get("request-id"))
    chunks = decoder.feed_bytes(body)
    chunks += decoder.close()
    terminal = terminal_of(chunks)
    assert "".join(c.delta for c in chunks) == expected["text"]
    calls: dict[int, list[Any]] = {}
    for chunk in chunks:
        for delta in chunk.tool_call_deltas:
            entry = calls.setdefault(delta.index, [None, None, ""])
            entry[0] = entry[0] or delta.id
            entry[1] = entry[1] or delta.name
            entry[2] += delta.arguments
    got_tools = [(i, n, json.loads(a)) for i, n, a in (calls[k] for k in sorted(calls))]
    assert got_tools == expected["tools"]
    blocks = [t for c in chunks for t in c.thinking if not t.redacted]
    assert [(t.text, t.signature) for t in blocks] == expected["thinking"]
    assert "".join(c.thinking_delta for c in chunks) == "".join(t for t, _ in expected["thinking"])
    usage = terminal.usage
    assert usage is not None
    got = (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_creation_tokens,
    )
    assert got == expected["usage"]
    assert terminal.finish_reason is expected["finish"]
    assert all(c.request_id == headers.get("request-id") for c in chunks)


@pytest.mark.parametrize("path", recording_params(WIRE))
def test_recording(path: Path) -> None:
    exchanges = load_recording(path)
    assert exchanges, f"{path} holds no responses"
    for exchange in exchanges:
        status, headers, body = (
            exchange.response.status,
            dict(exchange.response.headers),
            exchange.response.body,
        )
        if status is not None and status >= 400:
            _check_error(status, headers, body)
        elif body.lstrip().startswith((b"event:", b"data:")):
            _check_stream(headers, body)
        else:
            _check_message(headers, body)


def test_stream_split_bytes_match_whole() -> None:
    """Every recorded stream decodes the same when fed one byte at a time."""
    skip_without_wire(WIRE)
    streams = [
        exchange.response.body
        for path in sorted(WIRE.rglob("*.yaml"))
        for exchange in load_recording(path)
        if exchange.response.status == 200 and exchange.response.body.lstrip().startswith(b"event:")
    ]
    assert streams
    for body in streams:
        whole = _codec.StreamDecoder()
        expected = whole.feed_bytes(body) + whole.close()
        split = _codec.StreamDecoder()
        got = [c for i in range(len(body)) for c in split.feed_bytes(body[i : i + 1])]
        assert got + split.close() == expected
