"""Replay every recorded Cohere v2 exchange under ``../shared/wire/cohere`` through the public API.

The fake server (``WireServer``) answers with the recorded status, content type and body bytes; the
test calls ``Registry.achat`` / ``achat_stream`` / ``aembed`` exactly as a user would and
compares what comes back with expectations read from the raw recorded body by the small
independent reader below. Recordings of Cohere's v1 API (``/v1/chat``) and of endpoints
lmux-plug does not serve (``/v2/rerank``) are reported as skipped. The recordings are read at
run time, never copied into the repository; without the folder the test skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lmux_plug_cohere
import pytest

from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import Registry
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

WIRE = wire_dir(Path(__file__).resolve().parents[3], "cohere")
KEY = "test-cohere-key-not-real"
_FINISH = {
    "COMPLETE": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "TOOL_CALL": FinishReason.TOOL_CALLS,
}


def _expected_from_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    text, plan, calls, end = [], [], {}, {}
    for event in events:
        message = event.get("delta", {}).get("message", {})
        if event["type"] == "content-delta":
            text.append(message["content"].get("text", ""))
        elif event["type"] == "tool-plan-delta":
            plan.append(message["tool_plan"])
        elif event["type"] == "tool-call-start":
            call = message["tool_calls"]
            calls[event["index"]] = [call["id"], call["function"]["name"], ""]
        elif event["type"] == "tool-call-delta":
            calls[event["index"]][2] += message["tool_calls"]["function"]["arguments"]
        elif event["type"] == "message-end":
            end = event["delta"]
    return {"text": "".join(text), "plan": "".join(plan), "calls": calls, "end": end}


def _served(status: int, content_type: str, body: bytes) -> WireServer:
    """The fake server answering every request with the recorded status and body."""
    return WireServer(lambda _request: Reply.with_body(body, content_type, status=status))


@pytest.mark.parametrize("path", recording_params(WIRE))
async def test_recorded_exchange_decodes_through_the_public_api(path: Path) -> None:
    exchanges = load_recording(path)
    served = [e for e in exchanges if e.request.uri and "/v2/" in e.request.uri]
    served = [e for e in served if e.request.uri.rsplit("/", 1)[1] in ("chat", "embed")]
    if not served:
        pytest.skip("Cohere v1 or an endpoint lmux-plug does not serve (rerank)")
    for exchange in served:
        sent = exchange.request.json()
        response = exchange.response
        content_type = response.headers.get("content-type", "application/json")
        async with _served(response.status or 200, content_type, response.body) as server:
            registry = Registry(plugins=[lmux_plug_cohere], builtins=False)
            registry.configure("cohere", base_url=server.origin(), api_key=KEY)
            model = f"cohere/{sent['model']}"
            try:
                if response.status and response.status >= 400:
                    await _check_error(registry, model, sent, response.status, response.body)
                elif exchange.request.uri.endswith("/embed"):
                    await _check_embed(registry, model, sent, json.loads(response.body))
                elif sent.get("stream"):
                    await _check_stream(registry, model, sent, response.body)
                else:
                    await _check_chat(registry, model, sent, json.loads(response.body))
            finally:
                await registry.aclose()
            assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)


def _messages(sent: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded request's messages, as lmux-plug input (tool turns as typed dicts)."""
    out = []
    for message in sent["messages"]:
        if message["role"] == "assistant":
            out.append(
                {
                    "role": "assistant",
                    "content": message.get("content"),
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {
                                "name": c["function"]["name"],
                                "arguments": c["function"]["arguments"],
                            },
                        }
                        for c in message.get("tool_calls", [])
                    ],
                }
            )
        elif message["role"] == "tool":
            content = message["content"]
            if not isinstance(content, str):
                content = json.dumps(content)
            out.append(
                {"role": "tool", "tool_call_id": message["tool_call_id"], "content": content}
            )
        else:
            content = message["content"]
            out.append({"role": message["role"], "content": content})
    return out


async def _check_chat(
    registry: Registry, model: str, sent: dict[str, Any], body: dict[str, Any]
) -> None:
    answer = await registry.achat(model, _messages(sent), tools=sent.get("tools"))
    message = body["message"]
    texts = [p["text"] for p in message.get("content", []) if p.get("type") == "text"]
    assert answer.content == ("".join(texts) if texts else None)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls", [])
    ]
    plan = message.get("tool_plan")
    assert [t.text for t in answer.thinking] == ([plan] if plan else [])
    assert plan is None or plan not in (answer.content or "")
    tokens = body["usage"]["tokens"]
    assert answer.usage.input_tokens == tokens["input_tokens"]
    assert answer.usage.output_tokens == tokens["output_tokens"]
    assert answer.usage.cache_read_tokens == body["usage"].get("cached_tokens", 0)
    assert answer.finish_reason is _FINISH[body["finish_reason"]]
    assert answer.request_id == body["id"]
    assert answer.raw["usage"]["billed_units"] == body["usage"]["billed_units"]
    assert answer.raw["message"].get("citations") == message.get("citations")
    declared = lmux_plug_cohere.SPEC.model(sent["model"])
    assert (answer.cost is not None) == (declared is not None and declared.pricing is not None)


async def _check_stream(registry: Registry, model: str, sent: dict[str, Any], raw: bytes) -> None:
    expected = _expected_from_stream(sse_json(raw))
    chunks = [
        c async for c in registry.achat_stream(model, _messages(sent), tools=sent.get("tools"))
    ]
    assert "".join(c.delta for c in chunks) == expected["text"]
    assert "".join(c.thinking_delta for c in chunks) == expected["plan"]
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_call_deltas:
            entry = calls.setdefault(delta.index, ["", "", ""])
            entry[0] = delta.id or entry[0]
            entry[1] = delta.name or entry[1]
            entry[2] += delta.arguments
    assert calls == expected["calls"]
    terminal = terminal_of(chunks)
    assert terminal.finish_reason is _FINISH[expected["end"]["finish_reason"]]
    tokens = expected["end"]["usage"]["tokens"]
    assert terminal.usage is not None
    assert terminal.usage.input_tokens == tokens["input_tokens"]
    assert terminal.usage.output_tokens == tokens["output_tokens"]


async def _check_embed(
    registry: Registry, model: str, sent: dict[str, Any], body: dict[str, Any]
) -> None:
    answer = await registry.aembed(
        model, sent["texts"], extra_body={"input_type": sent["input_type"]}
    )
    vectors = body["embeddings"]["float"]
    assert [list(v) for v in answer.embeddings] == [[float(x) for x in v] for v in vectors]
    assert answer.usage.input_tokens == body["meta"]["billed_units"]["input_tokens"]


async def _check_error(
    registry: Registry, model: str, sent: dict[str, Any], status: int, raw: bytes
) -> None:
    body = json.loads(raw)
    call = registry.aembed(model, sent["texts"]) if "texts" in sent else registry.achat(model, "hi")
    with pytest.raises(LmuxError) as caught:
        await call
    if status == 404:
        assert isinstance(caught.value, NotFoundError)
    assert caught.value.status_code == status
    assert body["message"] in str(caught.value)
