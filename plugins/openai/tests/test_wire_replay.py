"""Replay real recorded provider traffic (``../shared/wire``) through the codec.

Every recording of a Chat Completions or embeddings exchange under the OpenAI-compatible
folders is one test id. Each response body is decoded by the plugin's codec and compared
with what the raw JSON / SSE says: text, tool calls, usage, finish reason, request id,
rate-limit headers; error answers must map to the right ``LmuxError`` class and status.
Recordings of APIs the plugin does not speak are excluded, and every exclusion must be
listed (with its reason) in ``plugins/openai/README.md``.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("yaml")

from lmux_plug_openai._codec import ChatStreamDecoder
from lmux_plug_openai._codec import decode_chat
from lmux_plug_openai._codec import decode_embed
from lmux_plug_openai._providers import PROVIDERS

from lmux_plug import AuthenticationError
from lmux_plug import ChatChunk
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import ToolCall
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.streams import tool_calls_of
from lmux_plug.testing.wire import WireExchange
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import parse_json
from lmux_plug.testing.wire import recordings
from lmux_plug.testing.wire import sse_events
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir
from lmux_plug.wire import error_from_response

REPO = Path(__file__).resolve().parents[3]
WIRE = wire_dir(REPO)
README = Path(__file__).resolve().parents[1] / "README.md"
FOLDERS = ("openai", "groq", "openrouter", "deepseek", "together", "mistral", "other")
SPECS = {spec.name: spec for spec in PROVIDERS}
HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "openrouter.ai": "openrouter",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
    "api.mistral.ai": "mistral",
    "api.cerebras.ai": "cerebras",
}


# --------------------------------------------------------------------------- classification


def _kind(interaction: WireExchange) -> str:
    """``chat``, ``stream``, ``embed`` or a reason the plugin does not handle it."""
    body: bytes = interaction.response.body
    is_sse = body.lstrip().startswith((b"data:", b"event:", b":"))
    if interaction.request.uri is None:
        first = sse_json(body)[0] if is_sse else parse_json(body)
        kind = first.get("object") if isinstance(first, Mapping) else None
        if kind == "chat.completion.chunk":
            return "stream"
        if kind == "chat.completion":
            return "chat"
        return "excluded: Responses API (stream events 'response.*')"
    path = urlsplit(interaction.request.uri).path
    if path.endswith("/chat/completions"):
        return "stream" if is_sse else "chat"
    if path.endswith("/embeddings"):
        return "embed"
    if path.endswith("/responses"):
        return "excluded: Responses API (/responses)"
    if path.endswith("/completions"):
        return "excluded: legacy Completions API (/completions)"
    return f"excluded: unsupported endpoint {path}"


def _recordings() -> list[Path]:
    return [path for folder in FOLDERS for path in recordings(WIRE / folder)]


def _split() -> tuple[list[Path], dict[Path, str]]:
    supported, excluded = [], {}
    for path in _recordings():
        kinds = [_kind(i) for i in load_recording(path)]
        reasons = sorted({k for k in kinds if k.startswith("excluded")})
        if reasons:
            excluded[path] = "; ".join(r.removeprefix("excluded: ") for r in reasons)
        else:
            supported.append(path)
    return supported, excluded


def _id(path: Path) -> str:
    return str(path.relative_to(WIRE.resolve() if WIRE.resolve() in path.parents else WIRE))


pytestmark = pytest.mark.skipif(
    not WIRE.is_dir(), reason=f"recorded wire traffic not found at {WIRE}"
)


# --------------------------------------------------------------------------- expectations


def _provider_of(path: Path, interaction: WireExchange) -> str:
    if interaction.request.uri:
        host = urlsplit(interaction.request.uri).hostname or ""
        if host.endswith(".openai.azure.com"):
            return "azure"
        if host in HOSTS:
            return HOSTS[host]
        return "openai"  # another OpenAI-compatible host (e.g. a router): plain dialect
    folder = path.relative_to(WIRE).parts[0]
    return folder if folder in SPECS else "openai"


def _expected_finish(raw: Any, has_calls: bool) -> FinishReason:
    if raw is None:
        return FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP
    values = {r.value for r in FinishReason}
    if raw in values:
        return FinishReason(raw)
    # Dialect spellings documented in the README: Mistral "model_length", Together "eos".
    aliases = {"model_length": FinishReason.LENGTH, "eos": FinishReason.STOP}
    return aliases.get(raw, FinishReason.OTHER)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if p.get("type") == "text")
    return ""


def _check_usage(usage: Any, raw: Mapping[str, Any]) -> None:
    assert usage is not None
    assert usage.input_tokens == raw.get("prompt_tokens", 0)
    assert usage.output_tokens == raw.get("completion_tokens", 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get(
        "cached_tokens", raw.get("prompt_cache_hit_tokens", raw.get("cached_tokens"))
    )
    assert usage.cache_read_tokens == (cached or 0)
    reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    assert usage.reasoning_tokens == reasoning


def _expected_error_class(status: int) -> type[LmuxError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if 400 <= status < 500:
        return InvalidRequestError
    return ProviderError


def _check_headers(
    headers: Mapping[str, str], request_id: str | None, response_headers: Mapping[str, str]
) -> None:
    assert request_id == headers.get("x-request-id", headers.get("request-id"))
    expected_limits = {k: v for k, v in headers.items() if "ratelimit" in k}
    assert {k: v for k, v in response_headers.items() if "ratelimit" in k} == expected_limits


def _replay_chat(provider: str, interaction: WireExchange) -> None:
    spec = SPECS[provider]
    headers = interaction.response.headers
    raw = json.loads(interaction.response.body)
    response = decode_chat(
        interaction.response.body, headers, provider=provider, options=spec.options
    )
    choice = raw["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content")
    assert response.content == (None if content is None else _text_of(content))
    calls = [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls") or []
    ]
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == calls
    assert response.finish_reason == _expected_finish(choice.get("finish_reason"), bool(calls))
    assert response.refusal == (message.get("refusal") or None)
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    assert "".join(t.text for t in response.thinking) == (reasoning or "")
    _check_usage(response.usage, raw.get("usage") or {})
    if spec.options.get("usage_cost") and "cost" in (raw.get("usage") or {}):
        assert response.cost is not None
        assert response.cost.total == Decimal(str(raw["usage"]["cost"]))
    assert response.model == raw.get("model")
    _check_headers(headers, response.request_id, response.headers)
    # The rate-limit view the router reads comes straight from the headers.
    assert dict(response.rate_limits) == {k: v for k, v in headers.items() if "ratelimit" in k}


def _stream_chunks(provider: str, interaction: WireExchange, piece: int) -> list[ChatChunk]:
    spec = SPECS[provider]
    decoder = ChatStreamDecoder(
        provider=provider, headers=interaction.response.headers, options=spec.options
    )
    body: bytes = interaction.response.body
    chunks: list[ChatChunk] = []
    for start in range(0, len(body), piece):
        chunks.extend(decoder.feed(body[start : start + piece]))
    chunks.extend(decoder.close())
    return chunks


def _replay_stream(provider: str, interaction: WireExchange) -> None:
    events = sse_events(interaction.response.body)
    payloads = [(name, json.loads(d)) for name, d in events if d != "[DONE]"]
    errors = [p for name, p in payloads if name == "error" or p.get("error")]
    if errors:
        error = errors[0]["error"]
        status = error.get("status_code") or error.get("code")
        with pytest.raises(LmuxError) as caught:
            _stream_chunks(provider, interaction, 4096)
        assert type(caught.value) is _expected_error_class(int(status))
        assert caught.value.status_code == int(status)
        assert caught.value.provider == provider
        return
    text, thinking, finish, usage = "", "", None, None
    calls: dict[int, dict[str, str]] = {}
    for _, payload in payloads:
        usage = payload.get("usage") or (payload.get("x_groq") or {}).get("usage") or usage
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            text += _text_of(delta.get("content"))
            if isinstance(delta.get("content"), list):
                for part in delta["content"]:
                    if part.get("type") == "thinking":
                        thinking += "".join(t["text"] for t in part["thinking"])
            thinking += delta.get("reasoning_content") or delta.get("reasoning") or ""
            for position, call in enumerate(delta.get("tool_calls") or []):
                slot = calls.setdefault(
                    call.get("index", position), {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] = call.get("function", {}).get("name") or slot["name"]
                slot["arguments"] += call.get("function", {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    # Arbitrary (small) splits must not change anything.
    chunks = _stream_chunks(provider, interaction, 4096)
    assert _stream_chunks(provider, interaction, 7) == chunks
    terminal = terminal_of(chunks)
    assert "".join(c.delta for c in chunks) == text
    assert "".join(c.thinking_delta for c in chunks) == thinking
    assert sorted({d.index for c in chunks for d in c.tool_call_deltas}) == sorted(calls)
    assert tool_calls_of(chunks) == [ToolCall(**c) for _, c in sorted(calls.items())]
    assert terminal.finish_reason == _expected_finish(finish, bool(calls))
    if usage is not None:
        _check_usage(terminal.usage, usage)
        if SPECS[provider].options.get("usage_cost") and "cost" in usage:
            assert terminal.cost is not None
            assert terminal.cost.total == Decimal(str(usage["cost"]))
    else:
        assert terminal.usage is None
    assert all(c.request_id == interaction.response.headers.get("x-request-id") for c in chunks)


def _replay_embed(provider: str, interaction: WireExchange) -> None:
    raw = json.loads(interaction.response.body)
    response = decode_embed(
        interaction.response.body, interaction.response.headers, provider=provider
    )
    data = sorted(raw["data"], key=lambda d: d["index"])
    assert len(response.embeddings) == len(data)
    request = interaction.request.json() or {}
    for item, vector in zip(data, response.embeddings, strict=True):
        embedding = item["embedding"]
        if isinstance(embedding, str):
            packed = base64.b64decode(embedding)
            assert len(vector) * 4 == len(packed)
            assert vector == struct.unpack(f"<{len(packed) // 4}f", packed)
        else:
            assert list(vector) == [float(v) for v in embedding]
        if "dimensions" in request:
            assert len(vector) == request["dimensions"]
    assert response.usage.input_tokens == raw["usage"]["prompt_tokens"]
    assert response.request_id == interaction.response.headers.get("x-request-id")


def _replay_error(provider: str, interaction: WireExchange) -> None:
    status = interaction.response.status
    error = error_from_response(
        status, interaction.response.headers, interaction.response.body, provider=provider
    )
    assert type(error) is _expected_error_class(status) or isinstance(
        error, _expected_error_class(status)
    )
    assert error.status_code == status
    assert error.request_id == interaction.response.headers.get("x-request-id")
    body = json.loads(interaction.response.body)
    message = body["error"]["message"] if isinstance(body.get("error"), Mapping) else body["error"]
    assert error.message == message


# --------------------------------------------------------------------------- tests

SUPPORTED, EXCLUDED = _split()


@pytest.mark.parametrize("path", SUPPORTED, ids=[_id(p) for p in SUPPORTED])
def test_recording_decodes_like_the_raw_body(path: Path) -> None:
    replayed = 0
    for interaction in load_recording(path):
        provider = _provider_of(path, interaction)
        kind = _kind(interaction)
        status = interaction.response.status
        if status is not None and status >= 400:
            _replay_error(provider, interaction)
        elif kind == "chat":
            _replay_chat(provider, interaction)
        elif kind == "stream":
            _replay_stream(provider, interaction)
        else:
            assert kind == "embed"
            _replay_embed(provider, interaction)
        replayed += 1
    assert replayed > 0


def test_every_exclusion_is_documented() -> None:
    readme = README.read_text()
    missing = [f"{_id(p)} ({why})" for p, why in EXCLUDED.items() if _id(p) not in readme]
    assert not missing, f"exclusions not listed in {README.name}: {missing}"


def test_the_wire_folder_has_recordings_for_this_plugin() -> None:
    # Guards against a loader bug silently turning every recording into an exclusion.
    assert len(SUPPORTED) >= 50
    assert len(EXCLUDED) <= 20
