"""Replay every recorded Bedrock exchange under ``../shared/wire/bedrock`` through the public API.

A server on 127.0.0.1 answers with the recorded status, headers that matter and body bytes
(JSON, or binary AWS event-stream frames); the test calls ``Registry.achat`` /
``achat_stream`` / ``aembed`` as a user would (with a bearer key, so no signing is involved)
and compares the result with expectations read from the recorded bytes by the small reader
below. InvokeModel chat recordings (model-native bodies) are not served by this plugin and
are reported as skipped. Without the recordings folder the test skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import lmux_plug_bedrock
import pytest

from lmux_plug import AuthenticationError
from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import Registry
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import wire_dir
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

WIRE = wire_dir(Path(__file__).resolve().parents[3], "bedrock")
KEY = "test-bedrock-api-key-not-real"
_FINISH = {
    "end_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
}
_KEPT_HEADERS = (
    "content-type",
    "x-amzn-requestid",
    "x-amzn-errortype",
    "x-amzn-bedrock-input-token-count",
)


def _frames(raw: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(headers, JSON payload) of each event-stream frame, read with botocore."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(dict(m.headers), json.loads(m.payload)) for m in buffer]


def _messages(sent: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded Converse messages as lmux-plug input."""
    out: list[dict[str, Any]] = []
    for message in sent["messages"]:
        texts = [b["text"] for b in message["content"] if "text" in b]
        uses = [b["toolUse"] for b in message["content"] if "toolUse" in b]
        results = [b["toolResult"] for b in message["content"] if "toolResult" in b]
        for result in results:
            content = result["content"][0]
            text = json.dumps(content["json"]) if "json" in content else content["text"]
            out.append({"role": "tool", "tool_call_id": result["toolUseId"], "content": text})
        if message["role"] == "assistant":
            out.append(
                {
                    "role": "assistant",
                    "content": "".join(texts) or None,
                    "tool_calls": [
                        {
                            "id": u["toolUseId"],
                            "type": "function",
                            "function": {"name": u["name"], "arguments": json.dumps(u["input"])},
                        }
                        for u in uses
                    ],
                }
            )
        elif texts:
            out.append({"role": "user", "content": "".join(texts)})
    return out


def _tools(sent: dict[str, Any]) -> list[dict[str, Any]] | None:
    config = sent.get("toolConfig")
    if not config:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": t["toolSpec"]["name"],
                "description": t["toolSpec"].get("description"),
                "parameters": t["toolSpec"]["inputSchema"]["json"],
            },
        }
        for t in config["tools"]
    ]


@pytest.mark.parametrize("path", recording_params(WIRE))
async def test_recorded_exchange_decodes_through_the_public_api(path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    exchanges = load_recording(path)
    served = [
        e
        for e in exchanges
        if (e.request.uri and e.request.uri.rsplit("/", 1)[1] in ("converse", "converse-stream"))
        or (e.request.uri and "embed" in e.request.uri)
    ]
    if not served:
        pytest.skip("InvokeModel chat with a model-native body: not served by this plugin")
    for exchange in served:
        uri = exchange.request.uri
        assert uri is not None
        model = unquote(uri.split("/model/", 1)[1].rsplit("/", 1)[0])
        sent = exchange.request.json()
        response = exchange.response
        headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
        recorded_reply = Reply(response.status or 200, headers, (response.body,))
        async with WireServer(recorded_reply) as server:
            url = server.origin()
            registry = Registry(plugins=[lmux_plug_bedrock], builtins=False)
            registry.configure("bedrock", base_url=url)
            try:
                if (response.status or 200) >= 400:
                    await _check_error(
                        registry,
                        model,
                        response.status or 0,
                        response.body,
                        headers,
                        stream=uri.endswith("converse-stream"),
                    )
                elif "embed" in model:
                    await _check_embed(registry, model, sent, json.loads(response.body))
                elif uri.endswith("converse-stream"):
                    await _check_stream(registry, model, sent, response.body, headers)
                else:
                    await _check_chat(registry, model, sent, json.loads(response.body), headers)
            finally:
                await registry.aclose()
        # The model id went out percent-encoded exactly as the recorded client sent it.
        assert [(r.method, r.path) for r in server.requests] == [
            ("POST", uri.split("amazonaws.com", 1)[1])
        ]
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def _params(sent: dict[str, Any]) -> dict[str, Any]:
    config = sent.get("inferenceConfig", {})
    params: dict[str, Any] = {}
    if "maxTokens" in config:
        params["max_tokens"] = config["maxTokens"]
    if "temperature" in config:
        params["temperature"] = config["temperature"]
    if config.get("stopSequences"):
        params["stop"] = config["stopSequences"]
    if _tools(sent):
        params["tools"] = _tools(sent)
    return params


async def _check_chat(
    registry: Registry,
    model: str,
    sent: dict[str, Any],
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    answer = await registry.achat(f"bedrock/{model}", _messages(sent), **_params(sent))
    blocks = body["output"]["message"]["content"]
    texts = [b["text"] for b in blocks if "text" in b]
    assert answer.content == ("".join(texts) if texts else None)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [
        (b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"])
        for b in blocks
        if "toolUse" in b
    ]
    assert answer.finish_reason is _FINISH[body["stopReason"]]
    usage = body["usage"]
    assert answer.usage.input_tokens == usage["inputTokens"] + usage.get(
        "cacheReadInputTokens", 0
    ) + usage.get("cacheWriteInputTokens", 0)
    assert answer.usage.output_tokens == usage["outputTokens"]
    assert answer.request_id == headers.get("x-amzn-requestid")


async def _check_stream(
    registry: Registry, model: str, sent: dict[str, Any], raw: bytes, headers: dict[str, str]
) -> None:
    frames = _frames(raw)
    chunks = [
        c async for c in registry.achat_stream(f"bedrock/{model}", _messages(sent), **_params(sent))
    ]
    expected_text = "".join(
        p["delta"].get("text", "") for h, p in frames if h[":event-type"] == "contentBlockDelta"
    )
    assert "".join(c.delta for c in chunks) == expected_text
    stop = next(p["stopReason"] for h, p in frames if h[":event-type"] == "messageStop")
    usage = next(p["usage"] for h, p in frames if h[":event-type"] == "metadata")
    terminal = terminal_of(chunks)
    assert terminal.finish_reason is _FINISH[stop]
    assert terminal.usage is not None
    assert terminal.usage.input_tokens == usage["inputTokens"]
    assert terminal.usage.output_tokens == usage["outputTokens"]
    assert {c.request_id for c in chunks} == {headers.get("x-amzn-requestid")}


async def _check_embed(
    registry: Registry, model: str, sent: dict[str, Any], body: dict[str, Any]
) -> None:
    answer = await registry.aembed(
        f"bedrock/{model}", sent["inputText"], dimensions=sent.get("dimensions")
    )
    assert [list(v) for v in answer.embeddings] == [[float(x) for x in body["embedding"]]]
    assert answer.usage.input_tokens == body["inputTextTokenCount"]


async def _check_error(
    registry: Registry,
    model: str,
    status: int,
    raw: bytes,
    headers: dict[str, str],
    *,
    stream: bool,
) -> None:
    body = json.loads(raw)

    async def call() -> object:
        if stream:
            return [c async for c in registry.achat_stream(f"bedrock/{model}", "hi")]
        return await registry.achat(f"bedrock/{model}", "hi")

    with pytest.raises(LmuxError) as caught:
        await call()
    error = caught.value
    assert error.status_code == status
    assert body["message"] in str(error)
    assert error.request_id == headers.get("x-amzn-requestid")
    if status == 403:
        assert isinstance(error, AuthenticationError)
    if "model identifier is invalid" in body["message"]:
        assert isinstance(error, NotFoundError)
