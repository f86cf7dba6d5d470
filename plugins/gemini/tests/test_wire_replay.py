"""Replay every recorded Gemini exchange in ``../shared/wire/gemini`` through the codec.

Text, thoughts, calls with their signatures, usage and errors are expected as ``_expected``
and ``_expected_error`` read them from the recorded JSON or SSE body, never through the codec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmux_plug_gemini._codec import GeminiStreamDecoder
from lmux_plug_gemini._codec import decode_chat
from lmux_plug_gemini._codec import decode_embeddings
from lmux_plug_gemini._codec import refine_error

from lmux_plug import AuthenticationError
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import RateLimitError
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import check_exclusions
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir
from lmux_plug.wire import error_from_response
from lmux_plug.wire import parse_duration

WIRE = wire_dir(Path(__file__).resolve().parents[3], "gemini")

# Recordings the plugin deliberately does not replay, with the reason (see README).
EXCLUDED = {
    "open-telemetry-opentelemetry-python-contrib__test_generate_content.yaml": "Vertex AI endpoint",
    "open-telemetry-opentelemetry-python-contrib__test_streaming[logcontent-gemini-2.5-flash-vertexaiapi-sync-default].yaml": "Vertex AI endpoint",
    "open-telemetry-opentelemetry-python-contrib__test_generate_content_invalid_temperature.yaml": "Vertex AI endpoint",
    "open-telemetry-opentelemetry-python-contrib__test_generate_content_missing_model.yaml": "Vertex AI endpoint",
    "simonw-llm-gemini__test_cli_gemini_models.yaml": "GET /v1beta/models (model listing is not a plugin hook)",
}


# --------------------------------------------------------------------------- expectations


_FINISH = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
}


def _events(body: bytes, stream: bool) -> list[dict[str, Any]]:
    text = body.decode()
    if not stream:
        return [json.loads(text)]
    stripped = text.lstrip()
    if stripped.startswith("["):
        return list(json.loads(stripped))
    if stripped.startswith("{"):
        return [json.loads(stripped)]
    return sse_json(text)


def _expected(events: list[dict[str, Any]]) -> dict[str, Any]:
    text, thoughts, calls, finish, usage, response_id = [], [], [], None, {}, None
    signatures: list[str] = []
    for event in events:
        usage = event.get("usageMetadata", usage)
        response_id = event.get("responseId", response_id)
        for candidate in event.get("candidates", [])[:1]:
            finish = candidate.get("finishReason", finish)
            for part in candidate.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    call = part["functionCall"]
                    calls.append((call["name"], call.get("args", {}), part.get("thoughtSignature")))
                elif "text" in part:
                    (thoughts if part.get("thought") else text).append(part["text"])
                    if part.get("thoughtSignature"):
                        signatures.append(part["thoughtSignature"])
    reason = _FINISH[finish]
    if calls and reason is FinishReason.STOP:
        reason = FinishReason.TOOL_CALLS
    return {
        "text": "".join(text),
        "thoughts": "".join(thoughts),
        "calls": calls,
        "finish": reason,
        "input": usage.get("promptTokenCount", 0),
        "output": usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
        "reasoning": usage.get("thoughtsTokenCount", 0),
        "cached": usage.get("cachedContentTokenCount", 0),
        "request_id": response_id,
        "signatures": signatures,
    }


def _expected_error(status: int, body: bytes) -> tuple[type[LmuxError], float | None]:
    error = json.loads(body)["error"]
    reasons = [d.get("reason") for d in error.get("details", [])]
    delays = [d["retryDelay"] for d in error.get("details", []) if "retryDelay" in d]
    delay = parse_duration(delays[0]) if delays else None
    if "API_KEY_INVALID" in reasons:
        return AuthenticationError, None
    cls = {400: InvalidRequestError, 404: NotFoundError, 429: RateLimitError}[status]
    return cls, delay if cls is RateLimitError else None


# --------------------------------------------------------------------------- tests


def _check_chat(body: bytes, stream: bool, model: str) -> None:
    expected = _expected(_events(body, stream))
    if stream:
        decoder = GeminiStreamDecoder(model=model)
        chunks = [*decoder.feed(body), decoder.finish()]
        terminal = terminal_of(chunks)
        text = "".join(c.delta for c in chunks)
        thoughts = "".join(c.thinking_delta for c in chunks)
        deltas = [d for c in chunks for d in c.tool_call_deltas]
        calls = [(d.name, json.loads(d.arguments), d.signature) for d in deltas]
        usage, finish, request_id = (
            terminal.usage,
            terminal.finish_reason,
            terminal.request_id,
        )
        signatures = [b.signature for c in chunks for b in c.thinking]
        assert usage is not None
        assert [d.index for d in deltas] == list(range(len(deltas)))
        assert all(d.id for d in deltas)
    else:
        response = decode_chat(json.loads(body), model=model)
        text = response.content or ""
        thoughts = "".join(b.text for b in response.thinking)
        calls = [(c.name, json.loads(c.arguments), c.signature) for c in response.tool_calls]
        usage, finish, request_id = response.usage, response.finish_reason, response.request_id
        signatures = [b.signature for b in response.thinking if b.signature]
        assert len({c.id for c in response.tool_calls}) == len(response.tool_calls)
    assert text == expected["text"]
    assert thoughts == expected["thoughts"]
    assert calls == expected["calls"]
    assert finish is expected["finish"]
    assert usage.input_tokens == expected["input"]
    assert usage.output_tokens == expected["output"]
    assert usage.reasoning_tokens == expected["reasoning"]
    assert usage.cache_read_tokens == expected["cached"]
    assert request_id == expected["request_id"]
    assert signatures == expected["signatures"]


@pytest.mark.parametrize("path", recording_params(WIRE, exclude=EXCLUDED))
def test_recording_decodes(path: Path) -> None:
    exchanges = load_recording(path)
    assert exchanges
    for exchange in exchanges:
        # A body-only SSE fixture has no URI: it stands for a stream.
        uri = "stream" if exchange.format == "sse-body" else exchange.request.uri or ""
        status, headers, body = (
            exchange.response.status,
            exchange.response.headers,
            exchange.response.body,
        )
        model = uri.rsplit("/models/", 1)[-1].split(":", 1)[0] if "/models/" in uri else "m"
        stream = ":streamGenerateContent" in uri or uri == "stream"
        if status is not None and status >= 400:
            cls, delay = _expected_error(status, body)
            error = refine_error(error_from_response(status, headers, body, provider="gemini"))
            assert type(error) is cls
            assert error.status_code == status
            assert error.retry_after == delay
            assert error.message == json.loads(body)["error"]["message"]
            if stream:
                # The same error body met inside a stream (event-stream content type,
                # plain JSON body) raises the same class.
                decoder = GeminiStreamDecoder(model=model)
                assert decoder.feed(body) == []
                with pytest.raises(cls):
                    decoder.finish()
        elif ":batchEmbedContents" in uri:
            raw = json.loads(body)
            response = decode_embeddings(raw, model=model, expected=len(raw["embeddings"]))
            assert [list(v) for v in response.embeddings] == [
                [float(x) for x in e["values"]] for e in raw["embeddings"]
            ]
        else:
            _check_chat(body, stream, model)


def test_exclusions_name_real_recordings_and_some_remain() -> None:
    check_exclusions(WIRE, EXCLUDED)
