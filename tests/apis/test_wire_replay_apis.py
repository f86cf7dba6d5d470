"""Replay real recorded Responses / completion exchanges (``../shared/wire``) through the public API.

Each recorded answer is served from a 127.0.0.1 server; the call is made with the recorded
request's own parameters through ``Registry.acreate_response`` / ``acomplete`` (streamed when
the recording was), and the decoded result is checked against what the recorded JSON holds.
Skipped cleanly when the recordings are not present.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lmux_plug import LmuxError
from lmux_plug import Registry
from lmux_plug import ResponseResponse
from lmux_plug.testing.wire import WireExchange
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recordings
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

WIRE = Path(__file__).resolve().parents[3] / "shared" / "wire"
KEY = "test-key-replay-0001"
_PREFIX_BY_HOST = {
    "api.openai.com": "openai",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
}


def _cases(kind: str) -> list[Any]:
    found = []
    for path in recordings(WIRE):
        for index, exchange in enumerate(load_recording(path)):
            uri = exchange.request.uri or ""
            if (
                kind == "responses"
                and (
                    uri.endswith("/responses")
                    or "responses/__fixtures__" in str(path)
                    or path.name.startswith("vercel-ai__openai__openai-error")
                )
            ) or (kind == "completions" and uri.endswith("/v1/completions")):
                found.append(pytest.param(exchange, id=f"{path.name}#{index}"))
    return found


RESPONSE_CASES = _cases("responses")
COMPLETION_CASES = _cases("completions")


def _serve(exchange: WireExchange) -> WireServer:
    """The fake server answering every request with the recorded response."""
    content_type = exchange.response.headers.get("content-type", "application/json")
    status = exchange.response.status or 200
    return WireServer(Reply.with_body(exchange.response.body, content_type, status=status))


@contextlib.asynccontextmanager
async def _replayed(
    exchange: WireExchange, model: str
) -> AsyncIterator[tuple[WireServer, Registry, str]]:
    """The recorded answer served, a registry configured for it, and the model's full name."""
    prefix = _prefix(exchange)
    async with _serve(exchange) as server, Registry.from_entry_points() as registry:
        registry.configure(prefix, api_key=KEY, base_url=server.origin())
        yield server, registry, f"{prefix}/{model}"


async def _call(
    registry: Registry,
    method: str,
    ref: str,
    subject: Any,
    params: dict[str, Any],
    *,
    stream: bool,
) -> Any:
    """``registry.<method>`` (``acomplete``, ...) or, with ``stream``, its ``_stream`` twin."""
    if stream:
        return [c async for c in getattr(registry, f"{method}_stream")(ref, subject, **params)]
    return await getattr(registry, method)(ref, subject, **params)


def _prefix(exchange: WireExchange) -> str:
    uri = exchange.request.uri or "https://api.openai.com/v1/responses"
    host = uri.split("/")[2]
    return _PREFIX_BY_HOST[host]


def _expected_payload(exchange: WireExchange) -> dict[str, Any] | None:
    """The final response object: the JSON body, or the last stream event's ``response``."""
    body = exchange.response.body
    if b"data:" in body[:200] or (
        exchange.response.headers.get("content-type", "").startswith("text/event-stream")
    ):
        final = None
        for line in body.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                event = json.loads(line[5:])
                if event.get("type") in ("response.completed", "response.incomplete"):
                    final = event["response"]
        return final
    return json.loads(body)


def _check_response(response: ResponseResponse, payload: dict[str, Any]) -> None:
    items = payload["output"]
    assert len(response.output) == len(items)
    texts = [
        part["text"]
        for item in items
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    ]
    assert response.output_text == "".join(texts)
    calls = [
        (i["call_id"], i["name"], i["arguments"]) for i in items if i["type"] == "function_call"
    ]
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == calls
    for ours, theirs in zip(response.output, items, strict=True):
        if theirs["type"] not in ("message", "function_call"):
            assert ours == theirs  # reasoning (encrypted too) and hosted calls kept unchanged
    usage = payload.get("usage") or {}
    assert response.usage.input_tokens == usage.get("input_tokens", 0)
    assert response.usage.output_tokens == usage.get("output_tokens", 0)
    details = usage.get("input_tokens_details") or {}
    assert response.usage.cache_read_tokens == (details.get("cached_tokens") or 0)
    out_details = usage.get("output_tokens_details") or {}
    assert response.usage.reasoning_tokens == (out_details.get("reasoning_tokens") or 0)
    assert response.id == payload["id"]
    assert response.status == payload["status"]
    assert response.incomplete_details == payload.get("incomplete_details")


@pytest.mark.skipif(not RESPONSE_CASES, reason="no recordings in ../shared/wire")
@pytest.mark.parametrize("exchange", RESPONSE_CASES)
async def test_replay_responses(exchange: WireExchange) -> None:
    recorded = exchange.request.json() or {"model": "gpt-5-nano", "input": "x", "stream": True}
    params = dict(recorded)
    model, value = params.pop("model"), params.pop("input")
    stream = bool(params.pop("stream", False))
    status = exchange.response.status or 200
    async with _replayed(exchange, model) as (server, registry, ref):
        if status >= 400 or b'"type":"error"' in exchange.response.body:
            with pytest.raises(LmuxError) as info:
                await _call(registry, "acreate_response", ref, value, params, stream=stream)
            if status >= 400:
                assert info.value.status_code == status
            return
        if stream:
            chunks = [c async for c in registry.acreate_response_stream(ref, value, **params)]
            final = chunks[-1].response
            assert final is not None
            assert "".join(c.delta for c in chunks) == final.output_text
            response = final
        else:
            response = await registry.acreate_response(ref, value, **params)
    if exchange.request.json() is not None:
        # What we sent carries every field of the recorded request, as recorded.
        ours = server.requests[-1].json()
        for key, wanted in recorded.items():
            if key == "stream" and wanted is False:
                continue  # the default: we leave it out
            assert ours.get(key) == wanted, key
    payload = _expected_payload(exchange)
    assert payload is not None
    _check_response(response, payload)


@pytest.mark.skipif(not COMPLETION_CASES, reason="no recordings in ../shared/wire")
@pytest.mark.parametrize("exchange", COMPLETION_CASES)
async def test_replay_completions(exchange: WireExchange) -> None:
    recorded = exchange.request.json()
    params = {k: v for k, v in recorded.items() if v is not None}
    model, prompt = params.pop("model"), params.pop("prompt")
    stream = bool(params.pop("stream", False))
    status = exchange.response.status or 200
    async with _replayed(exchange, model) as (server, registry, ref):
        if status >= 400:
            with pytest.raises(LmuxError) as info:
                await _call(registry, "acomplete", ref, prompt, params, stream=stream)
            assert info.value.status_code == status
            return
        response = await registry.acomplete(ref, prompt, **params)
    payload = json.loads(exchange.response.body)
    assert server.requests[-1].json()["prompt"] == prompt
    assert response.text == payload["choices"][0]["text"]
    assert response.finish_reason.value == {"eos": "stop"}.get(
        payload["choices"][0]["finish_reason"], payload["choices"][0]["finish_reason"]
    )
    assert response.usage.input_tokens == payload["usage"]["prompt_tokens"]
    assert response.usage.output_tokens == payload["usage"]["completion_tokens"]
