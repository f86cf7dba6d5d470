"""End to end through ``Registry`` against an OpenAI-format server on 127.0.0.1.

The server (the project's ``WireServer``, started by the fixture) answers by model name: ``plain``,
``tools``, ``rate-limited-seconds`` ... so each test drives one behaviour over a real
socket: plain and streamed chat, tool calls, embeddings (float and base64), errors with
``Retry-After`` in seconds and as an HTTP date, truncated streams, errors inside streams,
early close of a stream, Azure deployment URLs and a user-declared endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import json
import struct
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

import lmux_plug_openai
import pytest

from lmux_plug import ApiKeyAuth
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ConfigurationError
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug import TextContent
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage
from lmux_plug.testing.streams import collect
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "test-key-e2e"
ALL = frozenset(Capability)


class OpenAIServer:
    """A small OpenAI-format server whose behaviour is chosen by the request's model."""

    def __init__(self) -> None:
        self.server = WireServer(self)

    @property
    def url(self) -> str:
        return self.server.origin()

    @property
    def requests(self) -> list[CapturedRequest]:
        return self.server.requests

    def __call__(self, request: CapturedRequest) -> Reply:
        """Route as the real API (and Azure's deployment URLs) does."""
        path = request.path
        deployment = None
        if path.startswith("/openai/deployments/"):
            deployment, _, path = path.removeprefix("/openai/deployments/").partition("/")
            path = f"/v1/{path}"
        if path == "/v1/chat/completions":
            return self.chat(request, deployment)
        if path == "/v1/embeddings":
            return self.embeddings(request)
        return self._error(404, f"no route {request.path}", "invalid_request_error")

    # -- helpers ------------------------------------------------------------------------

    def _authorized(self, request: CapturedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {KEY}" or (
            request.headers.get("api-key") == KEY
        )

    @staticmethod
    def _error(
        status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> Reply:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return Reply.with_json(body, status=status, headers=headers)

    @staticmethod
    def _headers() -> dict[str, str]:
        # Mixed case, as HTTP/1.1 servers send them: responses must carry them lower-cased.
        return {
            "X-Request-Id": "req_e2e_123",
            "X-RateLimit-Limit-Requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "X-Ratelimit-Reset-Requests": "120ms",
        }

    @staticmethod
    def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-e2e",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    # -- handlers -----------------------------------------------------------------------

    def chat(self, request: CapturedRequest, deployment: str | None) -> Reply:
        body = request.json()
        if not self._authorized(request):
            message = f"Incorrect API key provided: {request.headers.get('authorization', '')}"
            return self._error(401, message, "invalid_request_error")
        model = deployment or body["model"]
        if model == "rate-limited-seconds":
            return self._error(429, "Rate limit reached", "requests", {"retry-after": "7"})
        if model == "rate-limited-date":
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            return self._error(429, "Rate limit reached", "requests", {"retry-after": when})
        if model == "server-error":
            return self._error(500, "The server had an error", "server_error")
        if model == "missing-model":
            return self._error(
                404, "The model `missing-model` does not exist", "invalid_request_error"
            )
        if model == "too-long":
            return self._error(
                400, "This model's maximum context length is 8 tokens", "invalid_request_error"
            )
        if body.get("stream"):
            return self._stream(model, body)
        message: dict[str, Any] = {"role": "assistant", "content": f"hello from {model}"}
        finish = "stop"
        if body.get("tools"):
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            }
            finish = "tool_calls"
        answer = {
            "id": "chatcmpl-e2e",
            "object": "chat.completion",
            "created": 1,
            "model": f"{model}-2025",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 5,
                "total_tokens": 25,
                "prompt_tokens_details": {"cached_tokens": 8},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        }
        return Reply.with_json(answer, headers=self._headers())

    def _stream(self, model: str, body: dict[str, Any]) -> Reply:
        if model == "not-sse":
            answer = {
                "model": model,
                "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
            return Reply.with_json(answer, headers=self._headers())
        headers = {"content-type": "text/event-stream", **self._headers()}
        frames = [self._chunk(model, {"role": "assistant", "content": ""})]
        if model == "slow":
            # Keep sending until the client goes away (bounded: at most ~10 s).
            ticks = [self._chunk(model, {"content": "tick "})] * 500
            return Reply(200, headers, [*frames, *ticks], stream=True, pause=0.02)
        if model == "truncated":
            # The body ends cleanly, but before [DONE].
            return Reply(200, headers, [*frames, self._chunk(model, {"content": "cut "})], True)
        if model == "reset":
            # The connection dies mid-body.
            frames.append(self._chunk(model, {"content": "cut "}))
            return Reply(200, headers, frames, stream=True, after="reset")
        if model == "stream-error":
            error = {
                "error": {
                    "message": "Rate limit reached mid-stream",
                    "type": "rate_limit_exceeded",
                    "code": 429,
                }
            }
            frames += [
                self._chunk(model, {"content": "partial "}),
                f"data: {json.dumps(error)}\n\n".encode(),
                b"data: [DONE]\n\n",
            ]
            return Reply(200, headers, frames, stream=True)
        if model == "groq-error":
            error = {
                "error": {
                    "message": "tool call validation failed",
                    "type": "invalid_request_error",
                    "code": "tool_use_failed",
                    "status_code": 400,
                }
            }
            frames += [
                b": keep-alive comment\n\n",
                f"event: error\ndata: {json.dumps(error)}\n\n".encode(),
            ]
            return Reply(200, headers, frames, stream=True)
        if body.get("tools"):
            parts = [
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
            ]
            frames += [self._chunk(model, delta) for delta in parts]
            frames.append(self._chunk(model, {}, "tool_calls"))
        else:
            frames += [self._chunk(model, {"content": word}) for word in ("Hello", ", ", "world")]
            frames.append(self._chunk(model, {}, "stop"))
        if body.get("stream_options", {}).get("include_usage"):
            usage = {
                "id": "chatcmpl-e2e",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 11,
                    "completion_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 4},
                },
            }
            frames.append(f"data: {json.dumps(usage)}\n\n".encode())
        frames.append(b"data: [DONE]\n\n")
        return Reply(200, headers, frames, stream=True)

    def embeddings(self, request: CapturedRequest) -> Reply:
        body = request.json()
        if not self._authorized(request):
            return self._error(401, "bad key", "invalid_request_error")
        inputs = body["input"]
        data = []
        for index, text in enumerate(inputs):
            vector = [float(len(text)), float(index), 0.5]
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack("<3f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        data.reverse()  # servers may answer out of order; the index decides
        answer = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": 7, "total_tokens": 7},
        }
        return Reply.with_json(answer, headers=self._headers())


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    instance = OpenAIServer()
    async with instance.server:
        yield instance


def _mygw(server: OpenAIServer) -> ProviderSpec:
    """The README's few lines: a new OpenAI-compatible endpoint declared as data."""
    return ProviderSpec(
        name="mygw",
        wire="openai",
        base_url=f"{server.url}/v1",
        auth=ApiKeyAuth(env=("MYGW_KEY",)),
        capabilities=ALL,
    )


@pytest.fixture
async def registry(
    server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Registry]:
    monkeypatch.setenv("MYGW_KEY", KEY)
    reg = Registry(plugins=[lmux_plug_openai])
    reg.register("mygw", _mygw(server))
    try:
        yield reg
    finally:
        await reg.aclose()


# --------------------------------------------------------------------------- chat


async def test_plain_chat(
    registry: Registry, server: OpenAIServer, brief_chat: Callable[..., Any]
) -> None:
    response = await brief_chat(
        registry,
        "mygw/plain",
        "hello from plain",
        max_tokens=10,
        user="u-1",
        extra_headers={"x-trace": "abc"},
        extra_body={"service_tier": "flex"},
    )
    assert response.usage.input_tokens == 20
    assert response.usage.cache_read_tokens == 8
    assert response.usage.reasoning_tokens == 2
    assert response.request_id == "req_e2e_123"
    assert response.rate_limits == {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
    }
    assert response.model == "plain-2025"
    assert response.provider == "mygw"
    sent = server.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-trace"] == "abc"
    assert sent.json()["max_tokens"] == 10
    assert sent.json()["stop"] == ["END"]
    assert sent.json()["seed"] == 7
    assert (sent.json()["temperature"], sent.json()["top_p"]) == (0.2, 0.9)
    assert sent.json()["user"] == "u-1"
    assert sent.json()["service_tier"] == "flex"
    assert sent.json()["messages"][0] == {"role": "system", "content": "be brief"}
    assert "stream" not in sent.json()


async def test_image_input_and_response_format(registry: Registry, server: OpenAIServer) -> None:
    message = UserMessage(
        (TextContent("what is this?"), ImageContent("data:image/png;base64,AAAA", detail="low"))
    )
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    await registry.achat(
        "mygw/plain",
        [message],
        response_format={"type": "json_schema", "json_schema": {"name": "thing", "schema": schema}},
    )
    body = server.requests[-1].json()
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }


async def test_tools_non_streamed(
    registry: Registry,
    server: OpenAIServer,
    weather_tool: dict[str, Any],
    answer_tool_call: Callable[..., Any],
) -> None:
    tool = weather_tool
    response = await registry.achat(
        "mygw/tools", "weather in Paris?", tools=[tool], tool_choice="required"
    )
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert [(c.id, c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"})
    ]
    body = server.requests[-1].json()
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == "required"
    # The answer continues the conversation as an assistant message with the calls.
    await answer_tool_call(registry, "mygw/plain", "weather in Paris?", response, "sunny")
    sent = server.requests[-1].json()["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_stream_plain_with_usage_on_the_terminal_chunk(
    registry: Registry, server: OpenAIServer
) -> None:
    chunks = [c async for c in registry.achat_stream("mygw/streamer", "hi")]
    assert "".join(c.delta for c in chunks) == "Hello, world"
    terminal = terminal_of(chunks)
    assert terminal.finish_reason is FinishReason.STOP
    assert terminal.usage is not None
    assert terminal.usage.input_tokens == 11
    assert terminal.usage.cache_read_tokens == 4
    assert all(c.request_id == "req_e2e_123" for c in chunks)
    body = server.requests[-1].json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_stream_tool_call_deltas(registry: Registry) -> None:
    tool = {"type": "function", "function": {"name": "get_weather"}}
    chunks = [c async for c in registry.achat_stream("mygw/tools", "weather?", tools=[tool])]
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert {d.index for d in deltas} == {0}
    assert [d.id for d in deltas if d.id] == ["call_1"]
    assert [d.name for d in deltas if d.name] == ["get_weather"]
    assert json.loads("".join(d.arguments for d in deltas)) == {"city": "Paris"}
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_stream_answered_without_sse_is_replayed(registry: Registry) -> None:
    chunks = [c async for c in registry.achat_stream("mygw/not-sse", "hi")]
    assert [c.delta for c in chunks] == ["whole", ""]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.input_tokens == 3


# --------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("encoding", [None, "float", "base64"])
async def test_embeddings_in_input_order(
    registry: Registry, server: OpenAIServer, encoding: str | None
) -> None:
    response = await registry.aembed(
        "mygw/embedder", ["a", "bbb", "cc"], encoding_format=encoding, dimensions=3
    )
    assert response.embeddings == ((1.0, 0.0, 0.5), (3.0, 1.0, 0.5), (2.0, 2.0, 0.5))
    assert response.usage.input_tokens == 7
    assert response.request_id == "req_e2e_123"
    body = server.requests[-1].json()
    assert body["input"] == ["a", "bbb", "cc"]
    assert body["dimensions"] == 3
    assert body.get("encoding_format") == encoding


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("model", "retry_after"),
    [
        ("mygw/rate-limited-seconds", 7.0),
        # An HTTP date has one-second resolution; allow for the time the call took.
        ("mygw/rate-limited-date", pytest.approx(28.0, abs=3.0)),
    ],
)
async def test_rate_limit_carries_retry_after_in_seconds_or_as_a_date(
    registry: Registry, rate_limited: Callable[..., Any], model: str, retry_after: object
) -> None:
    await rate_limited(registry, model, retry_after)


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("server-error", ProviderError),
        ("missing-model", NotFoundError),
        ("too-long", InvalidRequestError),
    ],
)
async def test_http_errors_map_to_the_tree(
    registry: Registry, model: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await registry.achat(f"mygw/{model}", "hi")
    with pytest.raises(error):
        async for _ in registry.achat_stream(f"mygw/{model}", "hi"):
            pass


async def test_bad_key_is_scrubbed_from_the_error(registry: Registry) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await registry.achat("mygw/plain", "hi", api_key="sk-wrong-secret-value")
    assert caught.value.status_code == 401
    assert "sk-wrong-secret-value" not in str(caught.value)
    assert "sk-wrong-secret-value" not in (caught.value.body or "")
    assert "[redacted]" in caught.value.message


async def test_truncated_stream_raises(registry: Registry) -> None:
    seen = await cut_short(registry.achat_stream("mygw/truncated", "hi"))
    assert "".join(c.delta for c in seen) == "cut "


async def test_connection_reset_mid_stream_raises(registry: Registry) -> None:
    with pytest.raises(ProviderError):
        async for _ in registry.achat_stream("mygw/reset", "hi"):
            pass


async def test_error_object_inside_stream_raises(registry: Registry) -> None:
    seen: list[Any] = []
    with pytest.raises(RateLimitError) as caught:
        await collect(registry.achat_stream("mygw/stream-error", "hi"), seen)
    assert caught.value.status_code == 429
    assert caught.value.request_id == "req_e2e_123"
    assert [c.delta for c in seen] == ["partial "]


async def test_sse_error_event_raises(registry: Registry) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        async for _ in registry.achat_stream("mygw/groq-error", "hi"):
            pass
    assert caught.value.status_code == 400
    assert "tool call validation failed" in str(caught.value)


async def test_early_close_releases_the_connection(
    registry: Registry, server: OpenAIServer
) -> None:
    stream = registry.achat_stream("mygw/slow", "hi")
    async with contextlib.aclosing(stream):
        async for chunk in stream:
            if chunk.delta:
                break
    # The client dropped the connection, so the server's next write fails.
    assert await server.server.await_disconnects(1, 5.0)
    # And the pool is usable afterwards.
    response = await registry.achat("mygw/plain", "again")
    assert response.content == "hello from plain"


async def test_sync_api_streams_too(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYGW_KEY", KEY)
    reg = Registry(plugins=[lmux_plug_openai])
    reg.register("mygw", _mygw(server))
    try:
        chunks = await asyncio.to_thread(lambda: list(reg.chat_stream("mygw/streamer", "hi")))
    finally:
        await asyncio.to_thread(reg.close)
    assert "".join(c.delta for c in chunks) == "Hello, world"


# --------------------------------------------------------------------------- declared providers


async def test_openai_reasoning_model_gets_max_completion_tokens(
    registry: Registry, server: OpenAIServer
) -> None:
    await registry.achat(
        "openai/o3-mini",
        "hi",
        max_tokens=50,
        reasoning_effort="low",
        base_url=f"{server.url}/v1",
        api_key=KEY,
    )
    body = server.requests[-1].json()
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert body["reasoning_effort"] == "low"
    await registry.achat(
        "openai/gpt-4o", "hi", max_tokens=50, base_url=f"{server.url}/v1", api_key=KEY
    )
    assert server.requests[-1].json()["max_tokens"] == 50


async def test_declared_capabilities_fail_before_io(
    registry: Registry, server: OpenAIServer
) -> None:
    with pytest.raises(UnsupportedFeatureError):
        await registry.achat(
            "openai/text-embedding-3-small", "hi", base_url=f"{server.url}/v1", api_key=KEY
        )
    with pytest.raises(UnsupportedFeatureError):
        await registry.achat("deepseek/deepseek-chat", "hi", reasoning_effort="high", api_key=KEY)
    assert server.requests == []


async def test_groq_spec_with_base_url_override(registry: Registry, server: OpenAIServer) -> None:
    registry.configure("groq", base_url=f"{server.url}/v1", api_key=KEY)
    response = await registry.achat("groq/plain", "hi")
    assert response.provider == "groq"
    assert server.requests[-1].path == "/v1/chat/completions"


async def test_local_server_spec_from_base_url_env(
    registry: Registry, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    response = await registry.achat("vllm/plain", "hi")
    assert response.content == "hello from plain"
    # A developer message goes out as "system" to servers that do not know the role.
    await registry.achat(
        "vllm/plain", [{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]
    )
    assert server.requests[-1].json()["messages"][0] == {"role": "system", "content": "rules"}


async def test_mistral_dialect(registry: Registry, server: OpenAIServer) -> None:
    registry.configure("mistral", base_url=f"{server.url}/v1", api_key=KEY)
    chunks = [c async for c in registry.achat_stream("mistral/mistral-small-latest", "hi", seed=3)]
    body = server.requests[-1].json()
    assert body["random_seed"] == 3
    assert "seed" not in body
    assert "stream_options" not in body
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is None  # this server sends usage only when asked


async def test_azure_deployment_url(
    registry: Registry, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    response = await registry.achat("azure/my-gpt4o", "hi", max_tokens=5)
    assert response.content == "hello from my-gpt4o"
    sent = server.requests[-1]
    assert sent.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert sent.query == {"api-version": "2025-01-01-preview"}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    embedded = await registry.aembed("azure/my-embedder", ["x"])
    assert embedded.embeddings == ((1.0, 0.0, 0.5),)
    assert server.requests[-1].path == "/openai/deployments/my-embedder/embeddings"
    monkeypatch.delenv("OPENAI_API_VERSION")
    await registry.achat("azure/my-gpt4o", "hi")
    assert server.requests[-1].query == {"api-version": "2024-10-21"}


async def test_azure_without_endpoint_is_a_configuration_error(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        await registry.achat("azure/my-gpt4o", "hi", api_key=KEY)


async def test_missing_key_names_the_env_var(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="GROQ_API_KEY"):
        await registry.achat("groq/llama-3.3-70b-versatile", "hi")


async def test_entry_point_discovery_finds_the_plugin() -> None:
    reg = Registry.from_entry_points()
    try:
        names = {spec.name for spec in reg.providers()}
        expected = {spec.name for spec in lmux_plug_openai.PROVIDERS}
        assert expected <= names
        assert not [b for b in reg.broken if b.name == "openai"]
    finally:
        await reg.aclose()


async def test_azure_with_a_token_from_an_auth_plugin(
    server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmux_plug import Credentials
    from lmux_plug import Secret
    from lmux_plug import hookimpl

    class EntraToken:
        """An auth plugin standing in for a cloud credential chain."""

        @hookimpl
        def lmux_plug_auth(self, provider: ProviderSpec) -> Credentials | None:
            if provider.name != "azure":
                return None
            return Credentials(extra_headers={"authorization": Secret(f"Bearer {KEY}")})

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    reg = Registry(plugins=[lmux_plug_openai, EntraToken()])
    try:
        response = await reg.achat("azure/dep", "hi")
    finally:
        await reg.aclose()
    assert response.content == "hello from dep"
    sent = server.requests[-1].headers
    assert sent["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in sent
