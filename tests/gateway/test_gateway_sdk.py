"""The gateway driven by the official openai SDK over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import openai
import pytest

from lmux_plug import ChatChunk
from lmux_plug import FinishReason
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import Usage
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.errors import TimeoutError
from lmux_plug.errors import UnsupportedFeatureError

HI = [{"role": "user", "content": "hi"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_chat(gateway):
    gateway.mock.enqueue("hello from mock")
    reply = gateway.client().chat.completions.create(model="mock/m1", messages=HI, max_tokens=20)
    assert reply.choices[0].message.content == "hello from mock"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 1
    assert reply.model == "mock/m1"
    assert gateway.mock.last_call.params["max_tokens"] == 20
    # The provider got the gateway's provider key, never the client's virtual key.
    assert gateway.mock.last_call.provider.credentials.api_key.reveal() == gateway.keys.provider


async def test_async_chat_and_parallel_requests(gateway):
    client = gateway.async_client()
    gateway.mock.handler = lambda call: f"answer to {call.messages[-1].content}"
    try:
        replies = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="mock/m1", messages=[{"role": "user", "content": f"q{i}"}]
                )
                for i in range(20)
            )
        )
    finally:
        gateway.mock.handler = None
    assert [r.choices[0].message.content for r in replies] == [f"answer to q{i}" for i in range(20)]
    await client.close()


def test_stream(gateway):
    gateway.mock.enqueue("streamed words arrive")
    stream = gateway.client().chat.completions.create(
        model="mock/m1", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "streamed words arrive"
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0


async def test_async_stream(gateway):
    gateway.mock.enqueue("async stream here")
    client = gateway.async_client()
    stream = await client.chat.completions.create(model="mock/m1", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "async stream here"
    await client.close()


def test_raw_sse_format_ends_with_done(gateway):
    gateway.mock.enqueue("raw sse")
    request = urllib.request.Request(
        gateway.url + "/chat/completions",
        data=json.dumps({"model": "mock/m1", "messages": HI, "stream": True}).encode(),
        headers={
            "authorization": f"Bearer {gateway.keys.good}",
            "content-type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    events = [e for e in body.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_tools(gateway):
    gateway.mock.enqueue(ToolCall(id="call_7", name="lookup", arguments='{"q": "x"}'))
    reply = gateway.client().chat.completions.create(
        model="mock/m1",
        messages=HI,
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
    )
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_7",
        "lookup",
        {"q": "x"},
    )
    request = gateway.mock.last_call.request
    assert request.tools[0].function.name == "lookup"
    assert request.tool_choice.function_name == "lookup"


def test_streamed_tools(gateway):
    gateway.mock.enqueue(
        [
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, id="call_8", name="lookup")]),
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, arguments='{"q": ')]),
            ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, arguments='"y"}')]),
            ChatChunk(finish_reason=FinishReason.TOOL_CALLS, usage=Usage(2, 3)),
        ]
    )
    chunks = list(
        gateway.client().chat.completions.create(
            model="mock/m1", messages=HI, tools=[TOOL], stream=True
        )
    )
    calls = [t for c in chunks for t in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "call_8"
    assert calls[0].function.name == "lookup"
    assert "".join(t.function.arguments or "" for t in calls) == '{"q": "y"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_response_format(gateway):
    gateway.client().chat.completions.create(
        model="mock/m1", messages=HI, response_format={"type": "json_object"}
    )
    assert gateway.mock.last_call.request.response_format == JsonObjectResponseFormat()


def test_embeddings_base64_default_and_float(gateway):
    client = gateway.client()
    # The SDK asks for base64 by default and decodes it: the floats must survive.
    reply = client.embeddings.create(model="mock/e1", input=["abc", "hello"])
    assert [d.embedding for d in reply.data] == [[3.0, 0.0, 1.0], [5.0, 1.0, 1.0]]
    assert reply.usage.prompt_tokens > 0
    floats = client.embeddings.create(model="mock/e1", input="ab", encoding_format="float")
    assert floats.data[0].embedding == [2.0, 0.0, 1.0]
    assert gateway.mock.last_call.request.inputs == ("ab",)


def test_models(gateway):
    client = gateway.client()
    ids = [m.id for m in client.models.list()]
    assert "mock/mock-model" in ids
    assert client.models.retrieve("mock/mock-model").owned_by == "mock"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("mock/does-not-exist")


def test_bare_model_name_means_openai(gateway):
    # No "openai" provider in this registry: the bare name resolves to openai/... and 404s.
    with pytest.raises(openai.NotFoundError) as info:
        gateway.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert "openai" in info.value.message


@pytest.mark.parametrize(
    ("error", "sdk_error", "status", "code"),
    [
        (
            RateLimitError("slow down", retry_after=7),
            openai.RateLimitError,
            429,
            "rate_limit_exceeded",
        ),
        (InvalidRequestError("bad field"), openai.BadRequestError, 400, None),
        (
            ContextLengthExceededError("too long"),
            openai.BadRequestError,
            400,
            "context_length_exceeded",
        ),
        (UnsupportedFeatureError("no vision"), openai.BadRequestError, 400, "unsupported_feature"),
        (NotFoundError("no such model"), openai.NotFoundError, 404, "model_not_found"),
        (AuthenticationError("bad key", status_code=401), openai.AuthenticationError, 401, None),
        (
            AuthenticationError("forbidden", status_code=403),
            openai.PermissionDeniedError,
            403,
            None,
        ),
        (TimeoutError("too slow"), openai.APIStatusError, 408, "upstream_timeout"),
        (
            ProviderError("upstream 500", status_code=500),
            openai.InternalServerError,
            502,
            "upstream_error",
        ),
        (
            ProviderError("overloaded", status_code=529, retry_after=3),
            openai.InternalServerError,
            503,
            None,
        ),
    ],
)
def test_provider_errors_map_to_sdk_errors(gateway, error, sdk_error, status, code):
    gateway.mock.enqueue(error)
    with pytest.raises(sdk_error) as info:
        gateway.client().chat.completions.create(model="mock/m1", messages=HI)
    assert info.value.status_code == status
    body = info.value.body
    assert set(body) == {"message", "type", "param", "code"}
    if code is not None:
        assert body["code"] == code
    if status in (429, 503):
        assert info.value.response.headers["retry-after"] == str(error.retry_after)


def test_stream_error_before_first_chunk_gets_status(gateway):
    gateway.mock.enqueue(RateLimitError("limited", retry_after=1))
    with pytest.raises(openai.RateLimitError):
        gateway.client().chat.completions.create(model="mock/m1", messages=HI, stream=True)


def test_plugin_bug_is_500_without_traceback(gateway):
    def broken(call):
        raise KeyError("internal-detail")

    gateway.mock.handler = broken
    try:
        with pytest.raises(openai.InternalServerError) as info:
            gateway.client().chat.completions.create(model="mock/m1", messages=HI)
    finally:
        gateway.mock.handler = None
    text = info.value.response.text
    assert "Traceback" not in text
    assert "internal-detail" not in text
    assert info.value.status_code == 500


def test_provider_key_never_reaches_client(gateway):
    # A provider that quotes the key in its error text (OpenAI quotes a masked key).
    gateway.mock.enqueue(
        AuthenticationError(f"Incorrect API key provided: {gateway.keys.provider}", status_code=401)
    )
    with pytest.raises(openai.AuthenticationError) as info:
        gateway.client().chat.completions.create(model="mock/m1", messages=HI)
    assert gateway.keys.provider not in info.value.response.text
    assert "sk-" not in info.value.response.text
    gateway.mock.enqueue(
        ProviderError(f"upstream echoed {gateway.keys.provider} and Bearer abcdefghijkl123")
    )
    with pytest.raises(openai.InternalServerError) as info:
        gateway.client().chat.completions.create(model="mock/m1", messages=HI)
    assert gateway.keys.provider not in info.value.response.text
    assert "abcdefghijkl123" not in info.value.response.text
    assert "***" in info.value.message


def test_unknown_provider_is_404(gateway):
    with pytest.raises(openai.NotFoundError) as info:
        gateway.client().chat.completions.create(model="nope/model", messages=HI)
    assert info.value.body["type"] == "not_found_error"


def test_invalid_virtual_key_is_401(gateway):
    with pytest.raises(openai.AuthenticationError) as info:
        gateway.client(key="vk-wrong").chat.completions.create(model="mock/m1", messages=HI)
    assert info.value.body["code"] == "invalid_api_key"
    assert gateway.mock.calls == []


def test_model_not_allowed_for_key_is_403(gateway):
    client = gateway.client(key=gateway.keys.restricted)
    client.chat.completions.create(model="mock/allowed-1", messages=HI)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="mock/other", messages=HI)
    assert info.value.body["code"] == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="mock/allowed-1", messages=HI, extra_body={"fallback_models": ["mock/other"]}
        )
    assert [m.id for m in client.models.list()] == []  # mock-model is not allowed either


def test_rpm_limit_per_key(gateway):
    limited = gateway.client(key=gateway.keys.limited)
    limited.chat.completions.create(model="mock/m1", messages=HI)
    limited.chat.completions.create(model="mock/m1", messages=HI)
    with pytest.raises(openai.RateLimitError) as info:
        limited.chat.completions.create(model="mock/m1", messages=HI)
    assert 0 < int(info.value.response.headers["retry-after"]) <= 60
    # Other keys are not affected.
    gateway.client().chat.completions.create(model="mock/m1", messages=HI)


def test_budget_per_key(gateway):
    client = gateway.client(key=gateway.keys.budget)
    # 1e-6 USD per token, a budget of 1e-4 USD. A call reserves its worst case first: the
    # prompt's bytes plus max_tokens, so max_tokens=200 can never fit.
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="mock/mock-model", messages=HI, max_tokens=200)
    assert info.value.body["code"] == "budget_exceeded"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert gateway.mock.calls == []  # refused before the provider was called
    # Small calls fit; each is charged its real cost (a few tokens), not the reservation.
    answered = 0
    refused = None
    while refused is None and answered < 100:
        try:
            client.chat.completions.create(model="mock/mock-model", messages=HI, max_tokens=8)
            answered += 1
        except openai.RateLimitError as exc:
            refused = exc
    assert refused is not None
    assert refused.body["code"] == "budget_exceeded"
    key = gateway.state.keys.authenticate(f"Bearer {gateway.keys.budget}")
    spent = asyncio.run(gateway.state.accounts.spent(key))
    assert answered > 5
    assert spent <= key.budget


def test_fallback_models_in_body(gateway):
    gateway.mock.enqueue(RateLimitError("limited", retry_after=0), "fallback answer")
    reply = gateway.client().chat.completions.create(
        model="mock/primary", messages=HI, extra_body={"fallback_models": ["mock/secondary"]}
    )
    assert reply.choices[0].message.content == "fallback answer"
    assert reply.model == "mock/secondary"
    assert [c.model for c in gateway.mock.calls] == ["primary", "secondary"]


def test_health_and_metrics(gateway):
    gateway.client().chat.completions.create(model="mock/mock-model", messages=HI)
    with urllib.request.urlopen(gateway.root + "/health", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    # /metrics needs a virtual key like every route but /health.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(gateway.root + "/metrics", timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    request = urllib.request.Request(
        gateway.root + "/metrics", headers={"authorization": f"Bearer {gateway.keys.good}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    assert 'lmux_gateway_requests_total{route="/v1/chat/completions",status="200"}' in text
    assert "# TYPE lmux_gateway_request_duration_seconds histogram" in text
    assert 'lmux_gateway_tokens_total{kind="prompt",model="mock/mock-model"}' in text
    assert 'lmux_gateway_key_requests_total{key="good"}' in text
    assert "lmux_gateway_in_flight_requests 0.0" in text
