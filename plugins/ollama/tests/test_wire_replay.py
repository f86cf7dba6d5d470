"""Replay every recorded Ollama exchange in ``../shared/wire/ollama`` through the codec.

Expected values are read from the raw recorded bodies by this file's own small readers
(not by the codec), then compared with what the codec decodes. The recordings are read at
run time and never copied into the repository; without the folder the tests skip.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lmux_plug_ollama._codec import (
    OllamaStreamDecoder,
    decode_chat,
    decode_legacy_embedding,
    error_from_line,
)

from lmux_plug import FinishReason, NotFoundError
from lmux_plug._http_errors import error_from_response

WIRE = Path(__file__).resolve().parents[3] / ".." / "shared" / "wire" / "ollama"

# Recordings the plugin deliberately does not replay, with the reason (see README).
EXCLUDED = {
    "mirascope-mirascope__test_ollama_provider__ollama_gemma3_4b.yaml": "OpenAI-compatible /v1 endpoint (the openai plugin's wire)",
    "pydantic-pydantic-ai__test_ollama_local_native_output_uses_json_schema.yaml": "OpenAI-compatible /v1 endpoint (the openai plugin's wire)",
    "pydantic-pydantic-ai__test_ollama_cloud_tool_output.yaml": "OpenAI-compatible /v1 endpoint on ollama.com (the openai plugin's wire)",
    "traceloop-openllmetry__test_ollama_generation_legacy.yaml": "/api/generate (raw completion, not chat)",
    "traceloop-openllmetry__test_ollama_streaming_generation_legacy.yaml": "/api/generate (raw completion, not chat)",
}


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads unknown tags (aiohttp ``istr`` header keys) as plain values."""


def _unknown(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        items = loader.construct_sequence(node, deep=True)
        return items[0] if len(items) == 1 else tuple(items)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _unknown)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _unknown)


def _headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        values = value if isinstance(value, list) else [value]
        out[str(key).lower()] = str(values[0]) if values else ""
    return out


def _body(part: dict[str, Any]) -> bytes:
    if "parsed_body" in part:
        return json.dumps(part["parsed_body"]).encode()
    body = part.get("body")
    if isinstance(body, dict):
        if "base64_string" in body:
            body = base64.b64decode(body["base64_string"])
        else:
            body = body.get("string")
    if body is None:
        return b""
    raw = body if isinstance(body, bytes) else str(body).encode()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def _request(request: dict[str, Any]) -> dict[str, Any]:
    raw = _body(request)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _interactions(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=_Loader)
    out = []
    for item in doc["interactions"]:
        response = item["response"]
        status = response.get("status")
        out.append(
            {
                "uri": item["request"]["uri"],
                "status": status["code"] if isinstance(status, dict) else status,
                "headers": _headers(response.get("headers")),
                "body": _body(response),
                "request": _request(item["request"]),
            }
        )
    return out


def _files() -> list[Path]:
    if not WIRE.is_dir():
        return []
    return sorted(p for p in WIRE.rglob("*") if p.is_file() and p.name not in EXCLUDED)


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


def test_exclusions_name_real_recordings() -> None:
    if not WIRE.is_dir():
        pytest.skip(f"recorded wire traffic not available at {WIRE}")
    names = {p.name for p in WIRE.rglob("*") if p.is_file()}
    assert set(EXCLUDED) <= names


def test_wire_folder_present_or_skip() -> None:
    if not WIRE.is_dir():
        pytest.skip(f"recorded wire traffic not available at {WIRE}")
    assert _files(), "the ollama wire folder holds no replayable recording"


def _check_chat(interaction: dict[str, Any], stream: bool, model: str) -> None:
    expected = _expected(_lines(interaction["body"], stream))
    if stream:
        decoder = OllamaStreamDecoder(model=model)
        chunks = [*decoder.feed(interaction["body"]), *decoder.finish()]
        terminal = [c for c in chunks if c.finish_reason is not None]
        assert len(terminal) == 1
        assert chunks[-1] is terminal[0]
        text = "".join(c.delta for c in chunks)
        thinking = "".join(c.thinking_delta for c in chunks)
        deltas = [d for c in chunks for d in c.tool_call_deltas]
        calls = [(d.name, json.loads(d.arguments), d.id) for d in deltas]
        usage, finish = terminal[0].usage, terminal[0].finish_reason
        assert usage is not None
    else:
        response = decode_chat(json.loads(interaction["body"]), model=model)
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


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recording_decodes(path: Path) -> None:
    interactions = _interactions(path)
    assert interactions
    for interaction in interactions:
        uri, status, body = interaction["uri"], interaction["status"], interaction["body"]
        request = interaction["request"]
        model = request.get("model", "m")
        if status is not None and status >= 400:
            error = error_from_response(status, interaction["headers"], body, provider="ollama")
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
            _check_chat(interaction, request["stream"], model)
