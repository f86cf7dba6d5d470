"""End to end: ``Registry(plugins=[lmux_plug_gemini])`` against a Gemini-format server.

The server is the project's fake server (``WireServer``) on 127.0.0.1 with a scenario
that speaks the wire
format the recordings in ``../shared/wire/gemini`` show: ``generateContent``,
``streamGenerateContent?alt=sse``, ``batchEmbedContents``, Google error bodies with
``RetryInfo``, and 400 ``API_KEY_INVALID`` for a bad key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import lmux_plug_gemini
import pytest

from lmux_plug import AuthenticationError
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import Registry
from lmux_plug import UnsupportedFeatureError
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "test-key-not-real"


def _google_error(
    code: int, status: str, message: str, details: list[Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _event(
    parts: list[dict[str, Any]], *, finish: str | None = None, out: int = 1
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": 11,
            "candidatesTokenCount": out,
            "thoughtsTokenCount": 4,
            "cachedContentTokenCount": 2,
            "totalTokenCount": 11 + out + 4,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-e2e",
    }


class FakeGemini:
    """The scenario: by model name (``missing``, ``limited``, ``truncated``, ...) or request."""

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["contents"][-1]["parts"]
        config = body.get("generationConfig", {})
        if any("functionResponse" in p for p in last):
            result = last[0]["functionResponse"]
            return _event(
                [{"text": f"{result['name']} said {json.dumps(result['response'])}"}],
                finish="STOP",
                out=5,
            )
        if body.get("tools"):
            name = body["tools"][0]["functionDeclarations"][0]["name"]
            return _event(
                [
                    {
                        "functionCall": {"name": name, "args": {"city": "Paris"}},
                        "thoughtSignature": "c2lnLTE=",
                    }
                ],
                finish="STOP",
                out=3,
            )
        if config.get("responseMimeType") == "application/json":
            props = config.get("responseJsonSchema", {}).get("properties", {"answer": {}})
            return _event([{"text": json.dumps(dict.fromkeys(props, "x"))}], finish="STOP", out=6)
        text = " ".join(p.get("text", "") for p in last)
        return _event(
            [{"text": "hmm", "thought": True}, {"text": f"echo: {text}"}],
            finish="MAX_TOKENS" if config.get("maxOutputTokens") == 1 else "STOP",
            out=3,
        )

    def __call__(self, request: CapturedRequest) -> Reply:
        if not request.path.startswith("/v1beta/models/"):
            return Reply.with_json(_google_error(404, "NOT_FOUND", request.path), status=404)
        model, method = request.model_hint, request.path.rpartition(":")[2]
        body = request.json()
        stream = method == "streamGenerateContent"
        if request.headers.get("x-goog-api-key") != KEY:
            error = _google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            )
            # Like the real API: a failed stream keeps the event-stream content type.
            content_type = "text/event-stream" if stream else "application/json"
            return Reply.with_body(json.dumps(error), content_type, status=400)
        if model == "missing":
            return Reply.with_json(
                _google_error(404, "NOT_FOUND", f"models/{model} is not found"), status=404
            )
        if model == "limited":
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
            return Reply.with_json(
                _google_error(429, "RESOURCE_EXHAUSTED", "quota", details), status=429
            )
        if method == "batchEmbedContents":
            vectors = [
                {
                    "values": [float(len(r["content"]["parts"][0]["text"])), float(i)]
                    + [0.5] * (r.get("outputDimensionality", 3) - 2)
                }
                for i, r in enumerate(body["requests"])
            ]
            return Reply.with_json({"embeddings": vectors})
        if not stream:
            return Reply.with_json(self._answer(body))
        return self._stream(model, body)

    def _stream(self, model: str, body: dict[str, Any]) -> Reply:
        headers = {"content-type": "text/event-stream"}
        if model == "truncated":
            frames = [_frame(_event([{"text": "partial"}]))]
        elif model == "broken":
            error = _google_error(503, "UNAVAILABLE", "The model is overloaded.")
            frames = [_frame(_event([{"text": "a"}])), _frame(error)]
        else:
            answer = self._answer(body)
            parts = answer["candidates"][0]["content"]["parts"]
            frames = []
            for n, part in enumerate(parts):
                words = (
                    part.get("text", "").split(" ")
                    if "text" in part and not part.get("thought")
                    else None
                )
                if words is None:
                    frames.append(_frame(_event([part], out=n)))
                    continue
                for i, word in enumerate(words):
                    piece = {"text": word if i == len(words) - 1 else word + " "}
                    frames.append(_frame(_event([piece], out=n + i)))
            final = _event([], finish=answer["candidates"][0]["finishReason"], out=3)
            frames.append(_frame(final))
        return Reply(200, headers, frames, stream=True)


def _frame(event: dict[str, Any], end: bytes = b"\n\n") -> bytes:
    return b"data: " + json.dumps(event).encode() + end


@pytest.fixture
async def server() -> AsyncIterator[tuple[WireServer, str]]:
    async with WireServer(FakeGemini()) as running:
        yield running, running.origin()


@pytest.fixture
def registry(server: tuple[WireServer, str], plugin_registry: Callable[..., Registry]) -> Registry:
    return plugin_registry(lmux_plug_gemini, "gemini", base_url=server[1], api_key=KEY)


async def test_chat(
    registry: Registry, server: tuple[WireServer, str], brief_chat: Callable[..., Any]
) -> None:
    fake, _ = server
    response = await brief_chat(registry, "gemini/gemini-2.5-flash", "echo: hello")
    assert [b.text for b in response.thinking] == ["hmm"]
    assert response.request_id == "resp-e2e"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert (response.usage.reasoning_tokens, response.usage.cache_read_tokens) == (4, 2)
    # 9 uncached input at 0.30/M, 2 cached at 0.03/M, 7 output at 2.50/M.
    assert response.cost is not None
    assert (
        response.cost.total
        == Decimal(9) * Decimal("0.30") / 10**6
        + Decimal(2) * Decimal("0.03") / 10**6
        + Decimal(7) * Decimal("2.50") / 10**6
    )
    sent = fake.requests[-1]
    assert sent.path.endswith(":generateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json()["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert sent.json()["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
    }


async def test_max_tokens_finish_is_length(registry: Registry) -> None:
    response = await registry.achat("gemini/gemini-2.5-flash", "hi", max_tokens=1)
    assert response.finish_reason is FinishReason.LENGTH


async def test_stream(registry: Registry, server: tuple[WireServer, str]) -> None:
    chunks = [c async for c in registry.achat_stream("gemini/gemini-2.5-flash", "one two three")]
    assert "".join(c.delta for c in chunks) == "echo: one two three"
    assert "".join(c.thinking_delta for c in chunks) == "hmm"
    terminal = terminal_of(chunks)
    assert terminal.usage is not None
    assert terminal.usage.output_tokens == 7
    assert terminal.cost is not None
    assert server[0].requests[-1].query == {"alt": "sse"}


async def test_tools_round_trip_with_thought_signature(
    registry: Registry, server: tuple[WireServer, str], answer_tool_call: Callable[..., Any]
) -> None:
    fake, _ = server
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "additionalProperties": False,
                    "$schema": "x",
                },
            },
        }
    ]
    first = await registry.achat(
        "gemini/gemini-3-flash-preview", "weather in Paris?", tools=tools, tool_choice="required"
    )
    assert first.finish_reason is FinishReason.TOOL_CALLS
    (call,) = first.tool_calls
    assert (call.name, json.loads(call.arguments), call.signature) == (
        "weather",
        {"city": "Paris"},
        "c2lnLTE=",
    )
    assert call.id
    sent = fake.requests[-1].json()
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    declared = sent["tools"][0]["functionDeclarations"][0]
    assert "$schema" not in declared["parametersJsonSchema"]
    second = await answer_tool_call(
        registry,
        "gemini/gemini-3-flash-preview",
        "weather in Paris?",
        first,
        '{"temp": 21}',
        tools=tools,
    )
    assert second.content == 'weather said {"temp": 21}'
    contents = fake.requests[-1].json()["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0] == {
        "functionCall": {"name": "weather", "args": {"city": "Paris"}},
        "thoughtSignature": "c2lnLTE=",
    }
    assert contents[2]["parts"][0]["functionResponse"] == {
        "name": "weather",
        "response": {"temp": 21},
    }


async def test_streamed_tool_call(registry: Registry) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    chunks = [
        c async for c in registry.achat_stream("gemini/gemini-2.5-flash", "weather?", tools=tools)
    ]
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [(d.index, d.name, json.loads(d.arguments), d.signature) for d in deltas] == [
        (0, "weather", {"city": "Paris"}, "c2lnLTE=")
    ]
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_structured_output(registry: Registry, server: tuple[WireServer, str]) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer", "default": 1}},
        "required": ["title"],
        "additionalProperties": False,
    }
    response = await registry.achat(
        "gemini/gemini-2.5-flash",
        "a book",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "book", "schema": schema, "strict": True},
        },
    )
    assert json.loads(response.content or "") == {"title": "x", "year": "x"}
    config = server[0].requests[-1].json()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["title"]
    assert "default" not in config["responseJsonSchema"]["properties"]["year"]
    response = await registry.achat(
        "gemini/gemini-2.5-flash", "json please", response_format={"type": "json_object"}
    )
    assert json.loads(response.content or "") == {"answer": "x"}


async def test_reasoning_effort(registry: Registry, server: tuple[WireServer, str]) -> None:
    await registry.achat("gemini/gemini-2.5-flash", "think", reasoning_effort="low")
    assert server[0].requests[-1].json()["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    await registry.achat("gemini/gemini-3-pro-preview", "think", reasoning_effort="high")
    assert server[0].requests[-1].json()["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "high",
        "includeThoughts": True,
    }
    with pytest.raises(InvalidRequestError, match="reasoning_effort"):
        await registry.achat("gemini/gemini-3-pro-preview", "think", reasoning_effort="maximal")


async def test_embeddings(registry: Registry, server: tuple[WireServer, str]) -> None:
    response = await registry.aembed(
        "gemini/gemini-embedding-001", ["a", "bbb", "cc"], dimensions=4
    )
    assert [v[:2] for v in response.embeddings] == [(1.0, 0.0), (3.0, 1.0), (2.0, 2.0)]
    assert all(len(v) == 4 for v in response.embeddings)
    sent = server[0].requests[-1]
    assert sent.path.endswith(":batchEmbedContents")
    assert sent.json()["requests"][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "a"}]},
        "outputDimensionality": 4,
    }
    single = await registry.aembed("gemini/gemini-embedding-001", "hello")
    assert len(single.embeddings) == 1
    assert single.embeddings[0][0] == 5.0


async def test_embedding_model_cannot_chat(
    registry: Registry, server: tuple[WireServer, str]
) -> None:
    with pytest.raises(UnsupportedFeatureError):
        await registry.achat("gemini/gemini-embedding-001", "hi")
    assert server[0].requests == []


async def test_rate_limit_carries_retry_delay(
    registry: Registry, rate_limited: Callable[..., Any]
) -> None:
    await rate_limited(registry, "gemini/limited", 7.0)


async def test_model_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError) as info:
        await registry.achat("gemini/missing", "hi")
    assert info.value.status_code == 404
    with pytest.raises(NotFoundError):
        await registry.aembed("gemini/missing", "hi")


async def test_bad_key_is_authentication_error(registry: Registry) -> None:
    with pytest.raises(AuthenticationError) as info:
        await registry.achat("gemini/gemini-2.5-flash", "hi", api_key="wrong-key")
    assert info.value.status_code == 400
    assert "wrong-key" not in str(info.value)
    with pytest.raises(AuthenticationError):
        async for _ in registry.achat_stream("gemini/gemini-2.5-flash", "hi", api_key="wrong-key"):
            pass


async def test_truncated_stream(registry: Registry) -> None:
    chunks = await cut_short(registry.achat_stream("gemini/truncated", "hi"))
    assert [c.delta for c in chunks] == ["partial"]


async def test_error_event_mid_stream(registry: Registry) -> None:
    with pytest.raises(ProviderError, match="overloaded") as info:
        async for _ in registry.achat_stream("gemini/broken", "hi"):
            pass
    assert info.value.status_code == 503


async def test_missing_key_names_env_vars(
    server: tuple[WireServer, str],
    monkeypatch: pytest.MonkeyPatch,
    plugin_registry: Callable[..., Registry],
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    reg = plugin_registry(lmux_plug_gemini, "gemini", base_url=server[1])
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        await reg.achat("gemini/gemini-2.5-flash", "hi")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert (await reg.achat("gemini/gemini-2.5-flash", "hi")).content == "echo: hi"


async def test_sync_api(server: tuple[WireServer, str]) -> None:
    # The sync twin drives the same async path on the registry's own loop; it runs in a
    # worker thread here so this loop keeps serving the fake API meanwhile.
    def use_sync() -> str | None:
        with Registry(plugins=[lmux_plug_gemini], builtins=False) as reg:
            reg.configure("gemini", base_url=server[1], api_key=KEY)
            return reg.chat("gemini/gemini-2.5-flash", "sync").content

    assert await asyncio.wait_for(asyncio.to_thread(use_sync), timeout=30) == "echo: sync"
