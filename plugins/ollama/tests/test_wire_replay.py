"""Replay every recorded Ollama exchange in ``../shared/wire/ollama`` through the codec.

Text, thinking, calls and token counts are expected as ``_expected`` reads them from the
recorded NDJSON lines, never through the codec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmux_plug_ollama._codec import OllamaStreamDecoder
from lmux_plug_ollama._codec import decode_chat
from lmux_plug_ollama._codec import decode_legacy_embedding
from lmux_plug_ollama._codec import error_from_line

from lmux_plug import FinishReason
from lmux_plug import NotFoundError
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import check_exclusions
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import wire_dir
from lmux_plug.wire import error_from_response

WIRE = wire_dir(Path(__file__).resolve().parents[3], "ollama")

# Recordings the plugin deliberately does not replay, with the reason (see README).
EXCLUDED = {
    "mirascope-mirascope__test_ollama_provider__ollama_gemma3_4b.yaml": "OpenAI-compatible /v1 endpoint (the openai plugin's wire)",
    "pydantic-pydantic-ai__test_ollama_local_native_output_uses_json_schema.yaml": "OpenAI-compatible /v1 endpoint (the openai plugin's wire)",
    "pydantic-pydantic-ai__test_ollama_cloud_tool_output.yaml": "OpenAI-compatible /v1 endpoint on ollama.com (the openai plugin's wire)",
    "traceloop-openllmetry__test_ollama_generation_legacy.yaml": "/api/generate (raw completion, not chat)",
    "traceloop-openllmetry__test_ollama_streaming_generation_legacy.yaml": "/api/generate (raw completion, not chat)",
}


# --------------------------------------------------------------------------- expectations

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}


def _lines(body: bytes, stream: bool) -> list[dict[str, Any]]:
    text = body.decode()
    if not stream:
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _expected(lines: list[dict[str, Any]]) -> dict[str, Any]:
    text, thinking, calls = [], [], []
    for line in lines:
        message = line.get("message", {})
        text.append(message.get("content", ""))
        thinking.append(message.get("thinking", ""))
        calls.extend(
            (call["function"]["name"], call["function"]["arguments"], call.get("id"))
            for call in message.get("tool_calls", [])
        )
    last = lines[-1]
    assert last["done"] is True
    reason = _FINISH[last["done_reason"]]
    if calls and reason is FinishReason.STOP:
        reason = FinishReason.TOOL_CALLS
    return {
        "text": "".join(text),
        "thinking": "".join(thinking),
        "calls": calls,
        "finish": reason,
        "input": last.get("prompt_eval_count", 0),
        "output": last.get("eval_count", 0),
    }


# --------------------------------------------------------------------------- tests


def test_exclusions_name_real_recordings_and_some_remain() -> None:
    check_exclusions(WIRE, EXCLUDED)


def _check_chat(body: bytes, stream: bool, model: str) -> None:
    expected = _expected(_lines(body, stream))
    if stream:
        decoder = OllamaStreamDecoder(model=model)
        chunks = [*decoder.feed(body), *decoder.finish()]
        terminal = terminal_of(chunks)
        text = "".join(c.delta for c in chunks)
        thinking = "".join(c.thinking_delta for c in chunks)
        deltas = [d for c in chunks for d in c.tool_call_deltas]
        calls = [(d.name, json.loads(d.arguments), d.id) for d in deltas]
        usage, finish = terminal.usage, terminal.finish_reason
        assert usage is not None
    else:
        response = decode_chat(json.loads(body), model=model)
        text = response.content or ""
        thinking = "".join(b.text for b in response.thinking)
        calls = [(c.name, json.loads(c.arguments), c.id) for c in response.tool_calls]
        usage, finish = response.usage, response.finish_reason
    # Recorded ids are kept; missing ones are synthesised (never empty).
    assert [(n, a) for n, a, _ in calls] == [(n, a) for n, a, _ in expected["calls"]]
    for (_, _, got), (_, _, recorded) in zip(calls, expected["calls"], strict=True):
        assert got == recorded if recorded else got
    assert text == expected["text"]
    assert thinking == expected["thinking"]
    assert finish is expected["finish"]
    assert usage.input_tokens == expected["input"]
    assert usage.output_tokens == expected["output"]


@pytest.mark.parametrize("path", recording_params(WIRE, exclude=EXCLUDED))
def test_recording_decodes(path: Path) -> None:
    exchanges = load_recording(path)
    assert exchanges
    for exchange in exchanges:
        uri, status = exchange.request.uri or "", exchange.response.status
        body = exchange.response.body
        headers = exchange.response.headers
        request = exchange.request.json()
        if not isinstance(request, dict):
            request = {}
        model = request.get("model", "m")
        if status is not None and status >= 400:
            error = error_from_response(status, headers, body, provider="ollama")
            assert status == 404
            assert type(error) is NotFoundError
            assert error.status_code == 404
            assert error.message == json.loads(body)["error"]
            # The same body as a line inside a stream maps to the same class.
            assert type(error_from_line(json.loads(body), model=model)) is NotFoundError
            decoder = OllamaStreamDecoder(model=model)
            with pytest.raises(NotFoundError):
                decoder.feed(body + b"\n")
        elif uri.endswith("/api/embeddings"):
            vector = decode_legacy_embedding(json.loads(body), model=model)
            assert list(vector) == [float(x) for x in json.loads(body)["embedding"]]
        else:
            assert uri.endswith("/api/chat")
            assert request["stream"] in (True, False)
            _check_chat(body, request["stream"], model)
