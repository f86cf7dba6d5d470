"""The codec driver (``lmux_plug.wire``): a new wire is one codec, its hooks one line each.

A throwaway "acme" wire (a JSON chat API with an NDJSON stream) is implemented here as a
codec and served by a real aiohttp server on 127.0.0.1, so every driver path (headers,
query, errors, streaming, early close, embeddings) runs over a socket.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Mapping
from collections.abc import Sequence

import pytest

from lmux_plug import ApiKeyAuth
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import Registry
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer
from tests.helpers import TextLines
from tests.helpers import served_registry

KEY = "acme-key-0123456789"


class AcmeCodec(wire.BaseCodec):
    """The whole acme wire."""

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> wire.WireRequest:
        model = wire.path_segment(request.model, provider=provider.name)
        body = {"prompt": [m.content for m in request.messages], "stream": stream}
        return wire.WireRequest(
            provider.url(f"models/{model}/chat"), body, {"x-acme-wire": "1"}, {"v": "2"}
        )

    def decode_chat(
        self, response: wire.WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        body = response.json(provider=provider.name, model=request.model)
        return ChatResponse(
            content=body["text"],
            model=request.model,
            provider=provider.name,
            finish_reason=FinishReason.STOP,
            usage=Usage(1, 2),
            headers=response.headers,
        )

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> TextLines:
        return TextLines(model=request.model, provider="acme")

    def encode_embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> wire.WireRequest:
        return wire.WireRequest(provider.url("embed"), {"inputs": list(request.inputs)})

    def decode_embed(
        self, response: wire.WireResponse, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        body = response.json()
        return EmbeddingResponse(body["vectors"], model=request.model, provider=provider.name)

    def refine_error(self, error: LmuxError) -> LmuxError:
        if error.status_code == 418:  # acme's way of saying "bad key"
            return AuthenticationError(error.message, provider=error.provider)
        return error


CODEC = AcmeCodec()


class AcmePlugin:
    """The plugin: one spec, one declared wire, and one line per call hook."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        caps = frozenset({Capability.CHAT, Capability.STREAM, Capability.EMBED})
        auth = ApiKeyAuth(env=("ACME_TEST_KEY",), header="x-acme-key", scheme=None)
        return [ProviderSpec("acme", "acme", self.base_url, auth=auth, capabilities=caps)]

    @hookimpl
    def lmux_plug_wires(self) -> Sequence[str]:
        return ["acme"]

    @hookimpl
    def lmux_plug_chat(
        self, request: ChatRequest, provider: ProviderContext
    ) -> Awaitable[ChatResponse]:
        return wire.send_chat(CODEC, request, provider)

    @hookimpl
    def lmux_plug_stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        return wire.stream_chat(CODEC, request, provider)

    @hookimpl
    def lmux_plug_embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> Awaitable[EmbeddingResponse]:
        return wire.send_embed(CODEC, request, provider)


def acme_scenario(request: CapturedRequest) -> Reply:
    """Answers per the prompt text: ``teapot`` is an error, ``cut short`` a cut stream."""
    body = request.json()
    if request.path == "/embed":
        return Reply.with_json({"vectors": [[float(len(t))] for t in body["inputs"]]})
    prompt = body["prompt"][-1]
    if prompt == "teapot":
        return Reply.with_json({"error": "I am a teapot"}, status=418)
    if not body["stream"]:
        return Reply.with_json({"text": f"re: {prompt}"})
    lines = [json.dumps({"text": word}).encode() + b"\n" for word in prompt.split()]
    if prompt != "cut short":
        lines.append(b'{"done": true}\n')
    return Reply(200, {"content-type": "application/x-ndjson"}, lines, stream=True)


@pytest.fixture
async def acme() -> AsyncIterator[tuple[Registry, WireServer]]:
    async with served_registry(
        acme_scenario, lambda origin: [AcmePlugin(origin)], "acme", api_key=KEY
    ) as served:
        yield served


async def test_send_chat_posts_the_codecs_call_with_auth_and_extra_headers(
    acme: tuple[Registry, WireServer],
) -> None:
    registry, server = acme
    answer = await registry.achat(
        "acme/big one", "hello", extra_headers={"x-acme-wire": "caller wins", "x-trace": "t"}
    )
    assert answer.content == "re: hello"
    sent = server.requests[-1]
    assert (sent.path, sent.query) == ("/models/big%20one/chat", {"v": "2"})
    assert sent.headers["x-acme-key"] == KEY
    assert sent.headers["x-acme-wire"] == "caller wins"  # extra_headers go last
    assert sent.headers["x-trace"] == "t"
    assert sent.json() == {"prompt": ["hello"], "stream": False}


async def test_stream_chat_feeds_the_decoder_and_closes_it(
    acme: tuple[Registry, WireServer],
) -> None:
    registry, _ = acme
    chunks = [c async for c in registry.achat_stream("acme/m", "one two three")]
    assert [c.delta for c in chunks[:-1]] == ["one", "two", "three"]
    assert chunks[-1].finish_reason is FinishReason.STOP


async def test_a_stream_cut_short_raises_from_close(acme: tuple[Registry, WireServer]) -> None:
    registry, _ = acme
    with pytest.raises(ProviderError, match="truncated"):
        [c async for c in registry.achat_stream("acme/m", "cut short")]


async def test_closing_a_stream_early_releases_the_connection(
    acme: tuple[Registry, WireServer],
) -> None:
    registry, _ = acme
    for _ in range(30):  # more than any pool size: a leaked connection would block
        stream = registry.achat_stream("acme/m", "a b c d")
        async for _chunk in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
    assert (await registry.achat("acme/m", "still fine")).content == "re: still fine"


async def test_http_errors_are_mapped_then_refined_by_the_codec(
    acme: tuple[Registry, WireServer],
) -> None:
    registry, _ = acme
    with pytest.raises(AuthenticationError):
        await registry.achat("acme/m", "teapot")
    with pytest.raises(AuthenticationError):
        [c async for c in registry.achat_stream("acme/m", "teapot")]


async def test_send_embed(acme: tuple[Registry, WireServer]) -> None:
    registry, _ = acme
    answer = await registry.aembed("acme/e", ["a", "bcd"])
    assert answer.embeddings == ((1.0,), (3.0,))


async def test_bad_model_ids_fail_before_any_request(acme: tuple[Registry, WireServer]) -> None:
    registry, server = acme
    for model in ("acme/x/../y", "acme/..", "acme/a\nb"):
        with pytest.raises(InvalidRequestError):
            await registry.achat(model, "hi")
    assert server.requests == []


async def test_base_codec_declines_what_a_wire_lacks() -> None:
    class ChatOnly(wire.BaseCodec):
        pass

    context = ProviderContext(
        ProviderSpec("p", "w", "https://p.test"),
        "https://p.test",
        transport=None,  # type: ignore[arg-type]
    )
    request = EmbeddingRequest(model="m", inputs=("x",))
    with pytest.raises(UnsupportedFeatureError, match="'w' wire does not implement embeddings"):
        ChatOnly().encode_embed(request, context)
    error = ProviderError("x")
    assert ChatOnly().refine_error(error) is error


def test_lazy_codec_imports_on_first_call_only() -> None:
    import sys

    sys.modules.pop("lmux_plug_ollama._codec", None)
    load = wire.lazy_codec("lmux_plug_ollama._codec")
    assert "lmux_plug_ollama._codec" not in sys.modules
    codec = load()
    assert "lmux_plug_ollama._codec" in sys.modules
    assert load() is codec
    assert type(codec).__name__ == "OllamaCodec"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("a/b", "a%2Fb"),
        ("a?b#c", "a%3Fb%23c"),
        ("100%", "100%25"),
        ("x..y", "x..y"),  # dots inside a segment are a plain name
    ],
)
def test_path_segment_escapes(value: str, expected: str) -> None:
    assert wire.path_segment(value) == expected


@pytest.mark.parametrize(
    "value", ["", ".", "..", "a/../b", "a/./b", "..\\x", "a\x00", "a\x7f", "\t"]
)
def test_path_segment_refuses(value: str) -> None:
    with pytest.raises(InvalidRequestError):
        wire.path_segment(value)


async def test_gather_limited_keeps_order_and_the_limit() -> None:
    running: list[int] = []
    most = 0
    release = asyncio.Event()

    async def call(value: int) -> int:
        nonlocal most
        running.append(value)
        most = max(most, len(running))
        await release.wait()  # every call waits, so the gate alone decides how many run
        running.remove(value)
        return value * 10

    gathered = asyncio.ensure_future(
        wire.gather_limited([functools.partial(call, n) for n in range(5)], 2)
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert most == 2
    release.set()
    assert await gathered == [0, 10, 20, 30, 40]
    assert most == 2


async def test_gather_limited_cancels_the_rest_on_a_failure() -> None:
    cancelled: list[int] = []

    async def slow(value: int) -> int:
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        except asyncio.CancelledError:
            cancelled.append(value)
            raise
        return value

    async def fail() -> int:
        await asyncio.sleep(0)
        msg = "batch 2 failed"
        raise ProviderError(msg)

    calls = [functools.partial(slow, 0), functools.partial(slow, 1), fail]
    with pytest.raises(ProviderError, match="batch 2 failed"):
        await wire.gather_limited(calls, 3)
    assert sorted(cancelled) == [0, 1]  # nothing is left running
