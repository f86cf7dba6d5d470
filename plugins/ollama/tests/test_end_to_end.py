"""End to end: ``Registry(plugins=[lmux_plug_ollama])`` against an Ollama-format server.

The server is the project's fake server (``WireServer``) on 127.0.0.1 with a scenario
speaking the native
API as the recordings in ``../shared/wire/ollama`` show: ``/api/chat`` (JSON and NDJSON),
``/api/embed``, the legacy ``/api/embeddings``, ``{"error": ...}`` bodies and lines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import lmux_plug_ollama
import pytest

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


def _final(model: str, content: str = "", reason: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content, **message},
        "done": True,
        "done_reason": reason,
        "prompt_eval_count": 12,
        "eval_count": 5,
    }


class FakeOllama:
    """The scenario: routes by path, answers by model name (``missing``, ``old``, ...)."""

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body["model"]
        last = body["messages"][-1]
        extra: dict[str, Any] = {"thinking": "hmm"} if body.get("think") else {}
        if last["role"] == "tool":
            return _final(model, f"{last.get('tool_name')} said {last['content']}", **extra)
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"function": {"name": name, "arguments": {"city": "Paris"}}}
            return _final(model, "", tool_calls=[call], **extra)
        fmt = body.get("format")
        if fmt:
            keys = list(fmt.get("properties", {})) if isinstance(fmt, dict) else ["answer"]
            return _final(model, json.dumps(dict.fromkeys(keys, 1)), **extra)
        reason = "length" if body.get("options", {}).get("num_predict") == 1 else "stop"
        return _final(model, f"echo: {last['content']}", reason, **extra)

    def __call__(self, request: CapturedRequest) -> Reply:
        routes = {
            "/api/chat": self.chat,
            "/api/embed": self.embed,
            "/api/embeddings": self.embeddings,
        }
        answer = routes.get(request.path)
        if answer is None:
            return Reply.with_body("404 page not found", "text/plain", status=404)
        return answer(request.json())

    def chat(self, body: dict[str, Any]) -> Reply:
        if not isinstance(body.get("stream"), bool):
            return Reply.with_json(
                {"error": "this fake insists on an explicit stream flag"}, status=400
            )
        if body["model"] == "missing":
            return Reply.with_json({"error": "model 'missing' not found"}, status=404)
        if not body["stream"]:
            return Reply.with_json(self._answer(body))
        headers = {"content-type": "application/x-ndjson"}
        return Reply(200, headers, [_line(p) for p in self._stream(body)], stream=True)

    def _stream(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        model = body["model"]
        if model == "truncated":
            return [_piece(model, content="partial")]
        if model == "broken":
            return [_piece(model, content="a"), {"error": "model runner has unexpectedly stopped"}]
        answer = self._answer(body)
        message = answer["message"]
        lines = []
        if message.get("thinking"):
            lines.append(_piece(model, thinking=message["thinking"]))
        if message.get("tool_calls"):
            lines.append(_piece(model, tool_calls=message["tool_calls"]))
        words = message["content"].split(" ") if message["content"] else []
        for i, word in enumerate(words):
            lines.append(_piece(model, content=word if i == len(words) - 1 else word + " "))
        lines.append({**answer, "message": {"role": "assistant", "content": ""}})
        return lines

    def embed(self, body: dict[str, Any]) -> Reply:
        if body["model"] == "old":
            # A server that predates /api/embed: Go's router answers in plain text.
            return Reply.with_body("404 page not found", "text/plain", status=404)
        if body["model"] == "missing":
            return Reply.with_json(
                {"error": "model 'missing' not found, try pulling it first"}, status=404
            )
        dims = body.get("dimensions", 3)
        vectors = [
            [float(len(text)), float(i)] + [0.5] * (dims - 2)
            for i, text in enumerate(body["input"])
        ]
        return Reply.with_json(
            {"model": body["model"], "embeddings": vectors, "prompt_eval_count": 4 * len(vectors)}
        )

    def embeddings(self, body: dict[str, Any]) -> Reply:
        return Reply.with_json({"embedding": [float(len(body["prompt"])), 9.0]})


def _piece(model: str, **message: Any) -> dict[str, Any]:
    return {
        "model": model,
        "message": {"role": "assistant", "content": "", **message},
        "done": False,
    }


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


@pytest.fixture
async def server() -> AsyncIterator[tuple[WireServer, str]]:
    async with WireServer(FakeOllama()) as running:
        yield running, running.origin().removeprefix("http://")


@pytest.fixture
def registry(server: tuple[WireServer, str], plugin_registry: Callable[..., Registry]) -> Registry:
    # No key in the environment: a local Ollama needs none, and none must be sent.
    origin = f"http://{server[1]}"
    return plugin_registry(
        lmux_plug_ollama, "ollama", env={"OLLAMA_API_KEY": None}, base_url=origin
    )


async def test_chat(
    registry: Registry, server: tuple[WireServer, str], brief_chat: Callable[..., Any]
) -> None:
    fake, _ = server
    response = await brief_chat(registry, "ollama/llama3.2", "echo: hello")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 5)
    assert response.cost is not None
    assert response.cost.total == Decimal(0)
    sent = fake.requests[-1]
    assert sent.json()["stream"] is False
    assert sent.json()["options"] == {"temperature": 0.2, "top_p": 0.9, "stop": ["END"], "seed": 7}
    assert sent.json()["messages"][0] == {"role": "system", "content": "be brief"}
    assert "Authorization" not in sent.headers


async def test_length_and_thinking(registry: Registry, server: tuple[WireServer, str]) -> None:
    response = await registry.achat("ollama/qwen3", "hi", max_tokens=1, reasoning_effort="high")
    assert response.finish_reason is FinishReason.LENGTH
    assert [b.text for b in response.thinking] == ["hmm"]
    body = server[0].requests[-1].json()
    assert (body["think"], body["options"]["num_predict"]) == (True, 1)
    await registry.achat("ollama/gpt-oss:20b", "hi", reasoning_effort="medium")
    assert server[0].requests[-1].json()["think"] == "medium"
    await registry.achat("ollama/qwen3", "hi", reasoning_effort="none")
    assert server[0].requests[-1].json()["think"] is False


async def test_stream(registry: Registry, server: tuple[WireServer, str]) -> None:
    chunks = [
        c
        async for c in registry.achat_stream(
            "ollama/qwen3", "one two three", reasoning_effort="low"
        )
    ]
    assert "".join(c.delta for c in chunks) == "echo: one two three"
    assert "".join(c.thinking_delta for c in chunks) == "hmm"
    terminal = terminal_of(chunks)
    assert terminal.usage is not None
    assert terminal.usage.output_tokens == 5
    assert server[0].requests[-1].json()["stream"] is True


async def test_tools_round_trip(
    registry: Registry, server: tuple[WireServer, str], answer_tool_call: Callable[..., Any]
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "w",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    first = await registry.achat("ollama/llama3.1", "weather in Paris?", tools=tools)
    assert first.finish_reason is FinishReason.TOOL_CALLS
    (call,) = first.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("weather", {"city": "Paris"})
    assert call.id.startswith("call_")
    second = await answer_tool_call(
        registry, "ollama/llama3.1", "weather in Paris?", first, "21C", tools=tools
    )
    assert second.content == "weather said 21C"
    sent = server[0].requests[-1].json()["messages"]
    assert sent[1]["tool_calls"] == [
        {"function": {"name": "weather", "arguments": {"city": "Paris"}}}
    ]
    assert sent[2] == {"role": "tool", "content": "21C", "tool_name": "weather"}
    with pytest.raises(UnsupportedFeatureError, match="tool_choice"):
        await registry.achat("ollama/llama3.1", "x", tools=tools, tool_choice="required")


async def test_streamed_tool_call(registry: Registry) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    chunks = [c async for c in registry.achat_stream("ollama/llama3.1", "weather?", tools=tools)]
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [(d.index, d.name, json.loads(d.arguments)) for d in deltas] == [
        (0, "weather", {"city": "Paris"})
    ]
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_structured_output(registry: Registry, server: tuple[WireServer, str]) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rank": {"type": "integer"}},
        "required": ["city"],
    }
    response = await registry.achat(
        "ollama/llama3.2",
        "a city",
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert json.loads(response.content or "") == {"city": 1, "rank": 1}
    assert server[0].requests[-1].json()["format"] == schema
    response = await registry.achat(
        "ollama/llama3.2", "json", response_format={"type": "json_object"}
    )
    assert json.loads(response.content or "") == {"answer": 1}
    assert server[0].requests[-1].json()["format"] == "json"


async def test_images_are_base64_only(registry: Registry, server: tuple[WireServer, str]) -> None:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    await registry.achat("ollama/llava", [{"role": "user", "content": parts}])
    assert server[0].requests[-1].json()["messages"][0] == {
        "role": "user",
        "content": "what is this",
        "images": ["iVBORw0KGgo="],
    }
    count = len(server[0].requests)
    link = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(InvalidRequestError, match="base64"):
        await registry.achat("ollama/llava", [{"role": "user", "content": link}])
    assert len(server[0].requests) == count  # refused before any I/O


async def test_embeddings(registry: Registry, server: tuple[WireServer, str]) -> None:
    response = await registry.aembed("ollama/nomic-embed-text", ["a", "bbb"], dimensions=4)
    assert response.embeddings == ((1.0, 0.0, 0.5, 0.5), (3.0, 1.0, 0.5, 0.5))
    assert response.usage.input_tokens == 8
    assert server[0].requests[-1].path == "/api/embed"
    assert server[0].requests[-1].json() == {
        "model": "nomic-embed-text",
        "input": ["a", "bbb"],
        "dimensions": 4,
    }


async def test_legacy_embeddings_fallback_and_option(
    registry: Registry, server: tuple[WireServer, str]
) -> None:
    fake, _ = server
    response = await registry.aembed("ollama/old", ["hi", "hello"])
    assert response.embeddings == ((2.0, 9.0), (5.0, 9.0))
    assert [r.path for r in fake.requests] == [
        "/api/embed",
        "/api/embeddings",
        "/api/embeddings",
    ]
    forced = await registry.aembed(
        "ollama/nomic-embed-text", "xyz", extra_body={"embed_api": "embeddings"}
    )
    assert forced.embeddings == ((3.0, 9.0),)
    assert fake.requests[-1].path == "/api/embeddings"
    assert fake.requests[-1].json() == {"model": "nomic-embed-text", "prompt": "xyz"}
    with pytest.raises(InvalidRequestError, match="embed_api"):
        await registry.aembed("ollama/nomic-embed-text", "x", extra_body={"embed_api": "magic"})


async def test_model_not_found(registry: Registry, server: tuple[WireServer, str]) -> None:
    with pytest.raises(NotFoundError) as info:
        await registry.achat("ollama/missing", "hi")
    assert info.value.status_code == 404
    assert "missing" in info.value.message
    with pytest.raises(NotFoundError):
        async for _ in registry.achat_stream("ollama/missing", "hi"):
            pass
    count = len(server[0].requests)
    with pytest.raises(NotFoundError):
        await registry.aembed("ollama/missing", "hi")
    # An unknown model is not mistaken for an old server: no legacy retry.
    assert len(server[0].requests) == count + 1


async def test_truncated_stream(registry: Registry) -> None:
    chunks = await cut_short(registry.achat_stream("ollama/truncated", "hi"))
    assert [c.delta for c in chunks] == ["partial"]


async def test_error_line_mid_stream(registry: Registry) -> None:
    with pytest.raises(ProviderError, match="unexpectedly stopped"):
        async for _ in registry.achat_stream("ollama/broken", "hi"):
            pass


async def test_ollama_host_without_scheme_and_api_key(
    server: tuple[WireServer, str],
    monkeypatch: pytest.MonkeyPatch,
    plugin_registry: Callable[..., Registry],
) -> None:
    fake, hostport = server
    monkeypatch.setenv("OLLAMA_HOST", hostport)  # host:port, no scheme
    monkeypatch.setenv("OLLAMA_API_KEY", "test-ollama-key")
    reg = plugin_registry(lmux_plug_ollama)
    assert (await reg.achat("ollama/llama3.2", "hi")).content == "echo: hi"
    assert fake.requests[-1].headers["authorization"] == "Bearer test-ollama-key"


async def test_sync_api(server: tuple[WireServer, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)

    def use_sync() -> list[str]:
        with Registry(plugins=[lmux_plug_ollama], builtins=False) as reg:
            reg.configure("ollama", base_url=server[1])
            return [c.delta for c in reg.chat_stream("ollama/llama3.2", "a b")]

    assert "".join(await asyncio.wait_for(asyncio.to_thread(use_sync), timeout=30)) == "echo: a b"
