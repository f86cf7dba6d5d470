"""End to end: Registry -> bedrock plugin -> core transport -> 127.0.0.1 -> back.

The server is the project's fake server (``WireServer``) with a scenario that checks every
SigV4 signature it receives. The check rebuilds the request as received (method, raw path, the signed headers,
body bytes) and computes the signature with botocore's own SigV4 primitives (canonical
request, string to sign, signature) for the credential scope the client claimed; a request
whose signature does not match is answered 403 like AWS does. Bearer-token requests are
checked against the expected Bedrock API key. Every test runs over both transport paths
(the lean HTTP/1.1 client and aiohttp).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import lmux_plug_bedrock
import pytest
from lmux_plug_contract.wires.bedrock import event_frame
from lmux_plug_contract.wires.bedrock import exception_frame

from lmux_plug import AuthenticationError
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ConfigurationError
from lmux_plug import ContextLengthExceededError
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import UserMessage
from lmux_plug.http import Transport
from lmux_plug.testing.streams import collect
from lmux_plug.testing.streams import cut_short
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

ACCESS_KEY = "AKIDEXAMPLETESTONLY0"
SECRET_KEY = "test-secret-key-not-real-0000000000000000"
SESSION_TOKEN = "test-session-token-not-real"
REGION = "eu-west-3"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]{64})"
)


def event(name: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    return exception_frame(kind, message)


def verify_sigv4(request: CapturedRequest, secret: str, token: str | None) -> str | None:
    """``None`` when the signature is right, else why not."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = _AUTH.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        return "no SigV4 authorization header"
    if match["service"] != "bedrock":
        return f"signed for service {match['service']!r}"
    amz_date = request.headers.get("x-amz-date", "")
    if amz_date[:8] != match["date"]:
        return "x-amz-date does not match the credential scope"
    if token is not None and request.headers.get("x-amz-security-token") != token:
        return "session token missing"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return f"host/x-amz-date not signed: {signed}"
    headers = {name: request.headers[name] for name in signed if name != "host"}
    url = f"http://{request.headers['host']}{_raw_path(request)}"
    rebuilt = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(match["key"], secret, token), "bedrock", match["region"])
    canonical = signer.canonical_request(rebuilt)
    expected = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
    return None if expected == match["sig"] else "signature mismatch"


def _raw_path(request: CapturedRequest) -> str:
    """The request target as sent (the path is kept percent-encoded)."""
    return request.path + (f"?{urlencode(request.query)}" if request.query else "")


class FakeBedrock:
    """The scenario: checks the auth of every request, then answers with the test's handler.

    ``requests`` records each request's path, model, action, headers, body and auth verdict.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.secret = SECRET_KEY
        self.token: str | None = None
        self.bearer: str | None = None
        # (request, action, body) -> the reply
        self.answer: Callable[[CapturedRequest, str, Any], Reply] = (
            lambda _request, _action, _body: Reply.with_json({})
        )

    def __call__(self, request: CapturedRequest) -> Reply:
        if self.bearer is not None:
            bearer = request.headers.get("authorization") == f"Bearer {self.bearer}"
            problem = None if bearer else "bad bearer token"
        else:
            problem = verify_sigv4(request, self.secret, self.token)
        raw_path = _raw_path(request)
        action = raw_path.rsplit("/", 1)[1]
        model = raw_path.split("/model/", 1)[1].rsplit("/", 1)[0]
        self.requests.append(
            {
                "raw_path": raw_path,
                "model": model,
                "action": action,
                "headers": dict(request.headers),
                "body": request.json(),
                "auth_problem": problem,
            }
        )
        if problem is not None:
            message = f"The request signature we calculated does not match: {problem}"
            return aws_error(403, "InvalidSignatureException", message)
        return self.answer(request, action, request.json())


@pytest.fixture
async def bedrock_server() -> AsyncIterator[tuple[FakeBedrock, str]]:
    fake = FakeBedrock()
    async with WireServer(fake) as running:
        yield fake, running.origin()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Static AWS keys in the environment; no profile, no bearer key, no metadata lookups."""
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture(params=["lean", "aiohttp"])
def registry(
    request: pytest.FixtureRequest,
    bedrock_server: tuple[FakeBedrock, str],
    aws_env: None,
    plugin_registry: Callable[..., Registry],
) -> Registry:
    """A registry pointed at the fake server, over both transport paths."""
    transport = Transport(fast_path=request.param == "lean")
    return plugin_registry(
        lmux_plug_bedrock, "bedrock", transport=transport, base_url=bedrock_server[1]
    )


def stream_response(*frames: bytes, request_id: str = "req-stream") -> Callable[..., Reply]:
    """A handler that streams ``frames`` in an event-stream body, as Bedrock does."""
    headers = {"content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": request_id}
    return lambda *_: Reply(200, headers, frames, stream=True)


NOVA = "amazon.nova-micro-v1:0"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
USAGE = {
    "inputTokens": 10,
    "outputTokens": 5,
    "totalTokens": 115,
    "cacheReadInputTokens": 100,
    "cacheWriteInputTokens": 0,
}


def converse_answer(*blocks: dict[str, Any], stop: str = "end_turn") -> Any:
    body = {
        "output": {"message": {"role": "assistant", "content": list(blocks)}},
        "stopReason": stop,
        "usage": USAGE,
        "metrics": {"latencyMs": 10},
    }
    return lambda _r, _a, _b: Reply.with_json(body, headers={"x-amzn-requestid": "req-123"})


def aws_error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    """An AWS JSON error: the message in the body, the type in ``x-amzn-errortype``."""
    error = {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/"}
    return Reply.with_json(
        {"message": message}, status=status, headers={**error, **(headers or {})}
    )


async def test_converse_is_sigv4_signed_with_colon_model_id(bedrock_server, registry) -> None:
    fake, _ = bedrock_server
    fake.answer = converse_answer({"text": "Hello!"})
    answer = await registry.achat(
        f"bedrock/{SONNET}",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=20,
        temperature=0.5,
        stop=["END"],
    )
    sent = fake.requests[0]
    assert sent["auth_problem"] is None
    # The ':' travels percent-encoded and was signed in exactly that form.
    assert sent["raw_path"] == f"/model/{SONNET.replace(':', '%3A')}/converse"
    assert f"/{REGION}/bedrock/aws4_request" in sent["headers"]["authorization"]
    assert SECRET_KEY not in json.dumps(sent["headers"])
    assert sent["body"] == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 20, "temperature": 0.5, "stopSequences": ["END"]},
    }
    assert answer.content == "Hello!"
    assert answer.finish_reason is FinishReason.STOP
    assert answer.request_id == "req-123"
    # Every prompt token counts as input, the 100 cache reads included.
    assert answer.usage.input_tokens == 110
    assert answer.usage.cache_read_tokens == 100
    assert answer.usage.output_tokens == 5
    # 10 at $3/M + 100 reads at $0.30/M + 5 out at $15/M.
    assert answer.cost is not None
    assert answer.cost.total == Decimal("0.00003") + Decimal("0.00003") + Decimal("0.000075")


async def test_session_token_is_signed(bedrock_server, registry, monkeypatch) -> None:
    fake, _ = bedrock_server
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    fake.token = SESSION_TOKEN
    fake.answer = converse_answer({"text": "ok"})
    await registry.achat(f"bedrock/{NOVA}", "hi")
    assert fake.requests[0]["auth_problem"] is None
    assert fake.requests[0]["headers"]["x-amz-security-token"] == SESSION_TOKEN


async def test_wrong_secret_is_refused_and_not_leaked(
    bedrock_server, registry, monkeypatch
) -> None:
    fake, _ = bedrock_server
    wrong = "another-secret-not-real-1111111111111111"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    with pytest.raises(AuthenticationError) as caught:
        await registry.achat(f"bedrock/{NOVA}", "hi")
    assert fake.requests[0]["auth_problem"] == "signature mismatch"
    assert caught.value.status_code == 403
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


async def test_tools_vision_structured_output_round_trip(
    bedrock_server, registry, weather_tool, answer_tool_call
) -> None:
    fake, _ = bedrock_server
    fake.answer = converse_answer(
        {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig-1"}}},
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
        stop="tool_use",
    )
    tool = weather_tool
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    first = await registry.achat(
        f"bedrock/{SONNET}",
        [{"role": "user", "content": [{"type": "text", "text": "Weather?"}, image]}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert first.finish_reason is FinishReason.TOOL_CALLS
    assert first.tool_calls == (ToolCall("tooluse_1", "get_weather", '{"city": "Paris"}'),)
    assert first.thinking == (ThinkingBlock(text="Think.", signature="sig-1"),)
    sent = fake.requests[0]["body"]
    assert sent["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}
    }
    assert sent["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": tool["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }

    fake.answer = converse_answer({"text": '{"answer": "sunny"}'})
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    second = await answer_tool_call(
        registry,
        f"bedrock/{SONNET}",
        "Weather?",
        first,
        '{"sky": "sunny"}',
        tools=[tool],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "Answer", "schema": schema},
        },
    )
    assert second.content == '{"answer": "sunny"}'
    body = fake.requests[1]["body"]
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig-1"}}},
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"sky": "sunny"}}]}}
        ],
    }
    # Bedrock takes the schema as a JSON string inside outputConfig.textFormat.
    definition = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert isinstance(definition["schema"], str)
    assert json.loads(definition["schema"]) == schema
    assert definition["name"] == "Answer"


async def test_converse_stream_text_tools_and_usage(
    bedrock_server, registry, streamed_tool_call
) -> None:
    fake, _ = bedrock_server
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}},
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig-9"}}},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Checking"}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu_1", "name": "f"}}},
        ),
        event(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a"'}}}
        ),
        event(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ": 1}"}}}
        ),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": USAGE, "metrics": {"latencyMs": 5}}),
    ]
    fake.answer = stream_response(*frames, request_id="req-s1")
    chunks = await streamed_tool_call(registry, f"bedrock/{SONNET}", "tu_1", 110, "req-s1")
    assert fake.requests[0]["auth_problem"] is None
    assert fake.requests[0]["action"] == "converse-stream"
    assert "".join(c.delta for c in chunks) == "Checking"
    assert "".join(c.thinking_delta for c in chunks) == "Hmm."
    assert [b for c in chunks for b in c.thinking] == [ThinkingBlock("Hmm.", signature="sig-9")]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("throttlingException", RateLimitError),
        ("modelStreamErrorException", ProviderError),
        ("validationException", InvalidRequestError),
    ],
)
async def test_stream_exception_frame_raises_after_partial_text(
    bedrock_server, registry, kind, expected
) -> None:
    fake, _ = bedrock_server
    fake.answer = stream_response(
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Par"}}),
        exception(kind, "it went wrong"),
    )
    got: list[ChatChunk] = []
    with pytest.raises(expected, match="it went wrong") as caught:
        await collect(registry.achat_stream(f"bedrock/{NOVA}", "hi"), got)
    assert [c.delta for c in got] == ["Par"]
    assert caught.value.provider == "bedrock"


async def test_stream_cut_before_message_stop_is_truncated(bedrock_server, registry) -> None:
    fake, _ = bedrock_server
    fake.answer = stream_response(
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Par"}}),
    )
    chunks = await cut_short(registry.achat_stream(f"bedrock/{NOVA}", "hi"))
    assert [c.delta for c in chunks] == ["Par"]


async def test_input_too_long_is_context_length_exceeded_with_request_id(
    bedrock_server, registry
) -> None:
    fake, _ = bedrock_server
    headers = {"x-amzn-requestid": "req-err-1"}
    too_long = aws_error(
        400, "ValidationException", "Input is too long for requested model.", headers
    )
    fake.answer = lambda _r, _a, _b: too_long
    with pytest.raises(ContextLengthExceededError) as caught:
        await registry.achat(f"bedrock/{NOVA}", "hi")
    assert caught.value.request_id == "req-err-1"
    assert caught.value.status_code == 400
    with pytest.raises(ContextLengthExceededError):
        _ = [c async for c in registry.achat_stream(f"bedrock/{NOVA}", "hi")]


async def test_invalid_model_is_not_found_and_throttling_is_rate_limit(
    bedrock_server, registry, rate_limited
) -> None:
    fake, _ = bedrock_server
    invalid = aws_error(400, "ValidationException", "The provided model identifier is invalid.")
    fake.answer = lambda _r, _a, _b: invalid
    with pytest.raises(NotFoundError):
        await registry.achat("bedrock/does-not-exist", "hi")
    throttled = aws_error(429, "ThrottlingException", "Rate exceeded", {"retry-after": "2"})
    fake.answer = lambda _r, _a, _b: throttled
    await rate_limited(registry, f"bedrock/{NOVA}", 2.0)


async def test_titan_and_cohere_embeddings_through_invoke_model(bedrock_server, registry) -> None:
    fake, _ = bedrock_server

    def answer(_request: CapturedRequest, _action: str, body: dict[str, Any]) -> Reply:
        if "inputText" in body:
            vector = [float(len(body["inputText"])), float(body.get("dimensions", 0))]
            return Reply.with_json({"embedding": vector, "inputTextTokenCount": 3})
        vectors = [[float(len(t)), 1.0] for t in body["texts"]]
        return Reply.with_json(
            {"embeddings": {"float": vectors}, "id": "e", "response_type": "embeddings_by_type"},
            headers={"x-amzn-bedrock-input-token-count": str(len(body["texts"]) * 2)},
        )

    fake.answer = answer
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    titan = await registry.aembed(
        "bedrock/amazon.titan-embed-text-v2:0", texts, dimensions=256, input_type="search_query"
    )
    assert [v[0] for v in titan.embeddings] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert titan.usage.input_tokens == 15
    assert len(fake.requests) == 5
    assert all(r["auth_problem"] is None for r in fake.requests)
    assert {r["raw_path"] for r in fake.requests} == {
        "/model/amazon.titan-embed-text-v2%3A0/invoke"
    }
    assert fake.requests[0]["body"] == {"inputText": "a", "dimensions": 256}
    many = [f"text {i}" for i in range(100)]
    cohere = await registry.aembed("bedrock/cohere.embed-english-v3", many)
    assert [v[0] for v in cohere.embeddings] == [float(len(t)) for t in many]
    assert cohere.usage.input_tokens == 200
    cohere_bodies = [r["body"] for r in fake.requests[5:]]
    assert [len(b["texts"]) for b in cohere_bodies] == [96, 4]
    assert cohere_bodies[0]["input_type"] == lmux_plug_bedrock.DEFAULT_INPUT_TYPE
    assert cohere_bodies[0]["embedding_types"] == ["float"]
    assert cohere.cost is not None


async def chat_once(url: str) -> ChatResponse:
    """One chat through a registry made now, so it reads the credentials the test just set."""
    reg = Registry(plugins=[lmux_plug_bedrock], builtins=False)
    reg.configure("bedrock", base_url=url)
    try:
        return await reg.achat(f"bedrock/{NOVA}", "hi")
    finally:
        await reg.aclose()


async def test_bearer_api_key_replaces_sigv4(bedrock_server, monkeypatch, aws_env) -> None:
    fake, url = bedrock_server
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "test-bedrock-api-key-not-real")
    fake.bearer = "test-bedrock-api-key-not-real"
    fake.answer = converse_answer({"text": "ok"})
    answer = await chat_once(url)
    assert answer.content == "ok"
    assert fake.requests[0]["auth_problem"] is None
    assert "x-amz-date" not in fake.requests[0]["headers"]


async def test_missing_credentials_fail_before_io(bedrock_server, monkeypatch, aws_env) -> None:
    fake, url = bedrock_server
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    reg = Registry(plugins=[lmux_plug_bedrock], builtins=False)
    reg.configure("bedrock", base_url=url)
    try:
        with pytest.raises(AuthenticationError, match="AWS_ACCESS_KEY_ID") as caught:
            await reg.achat(f"bedrock/{NOVA}", "hi")
        assert "AWS_BEARER_TOKEN_BEDROCK" in str(caught.value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.delenv("AWS_REGION")
        with pytest.raises(ConfigurationError, match="AWS_REGION"):
            await reg.achat(f"bedrock/{NOVA}", "hi")
    finally:
        await reg.aclose()
    assert fake.requests == []


async def test_standard_chain_reads_shared_credentials_file(
    bedrock_server, monkeypatch, aws_env, tmp_path
) -> None:
    fake, url = bedrock_server
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[lmux-test]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "lmux-test")
    fake.answer = converse_answer({"text": "from profile"})
    answer = await chat_once(url)
    assert answer.content == "from profile"
    assert fake.requests[0]["auth_problem"] is None


async def test_default_url_uses_the_region(monkeypatch, aws_env) -> None:
    reg = Registry(plugins=[lmux_plug_bedrock], builtins=False)
    route, _ = reg.resolve(f"bedrock/{NOVA}")
    assert route.spec.base_url == "https://bedrock-runtime.{region}.amazonaws.com"
    from lmux_plug_bedrock._wire import CODEC

    context = reg._context(route, None, None)
    call = CODEC.encode_chat(
        ChatRequest(model=NOVA, messages=[UserMessage("hi")]), context, stream=False
    )
    assert call.url.startswith(f"https://bedrock-runtime.{REGION}.amazonaws.com/model/")
    reg.close()


async def test_bad_input_refused_before_io(bedrock_server, registry) -> None:
    fake, _ = bedrock_server
    with pytest.raises(InvalidRequestError, match="base64 data: URLs or s3://"):
        await registry.achat(
            f"bedrock/{SONNET}",
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ],
        )
    with pytest.raises(InvalidRequestError, match="start with a user message"):
        await registry.achat(f"bedrock/{NOVA}", [{"role": "assistant", "content": "hi"}])
    with pytest.raises(InvalidRequestError, match="dimensions"):
        await registry.aembed("bedrock/amazon.titan-embed-text-v1", "x", dimensions=8)
    assert fake.requests == []


async def test_a_failed_titan_batch_stops_the_other_calls(bedrock_server, registry) -> None:
    fake, _ = bedrock_server

    def answer(_request: CapturedRequest, _action: str, body: dict[str, Any]) -> Reply:
        if body["inputText"] == "bad":
            return Reply.with_json({"message": "Malformed input request"}, status=400)
        return Reply(before="hang")  # the others never answer: only cancelling ends them

    fake.answer = answer
    with pytest.raises(InvalidRequestError, match="Malformed"):
        await registry.aembed("bedrock/amazon.titan-embed-text-v2:0", ["a", "bad", "c", "d"])
    pending = [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "").startswith("_embed.")
    ]
    assert pending == []
