"""The gateway's /v1/responses, /v1/completions, /v1/audio/transcriptions, checked with the
official ``openai`` SDK over a real socket, and the drop-in client's matching resources."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace

import openai
import pytest

import lmux_plug
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug import ToolCall
from lmux_plug import TranscriptionResponse
from lmux_plug import TranscriptionSegment
from lmux_plug import Usage
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.openai import AsyncOpenAI
from lmux_plug.openai import OpenAI
from lmux_plug.testing import MockProvider

KEY = "vk-apis-client-key-0001"
RESTRICTED = "vk-apis-restricted-key-0002"
PRICE = ModelPricing(input=Decimal("0.000001"), output=Decimal("0.000001"), per_minute="0.006")


@pytest.fixture(scope="module")
def served() -> Iterator[SimpleNamespace]:
    registry = Registry()
    mock = MockProvider("mock", pricing=PRICE)
    registry.register("mock", mock)
    chat_only = MockProvider("plain", capabilities={Capability.CHAT})
    registry.register("plain", chat_only)
    keys = KeyStore(
        [
            VirtualKey("good", hash_key(KEY)),
            VirtualKey("restricted", hash_key(RESTRICTED), models=("mock/allowed-*",)),
        ]
    )
    app = create_app(registry=registry, keys=keys, max_body_bytes=64 * 1024, body_timeout=5.0)
    with run_in_thread(app) as url:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        yield SimpleNamespace(url=url, app=app, mock=mock, registry=registry, client=client)
        client.close()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "served" in request.fixturenames:
        request.getfixturevalue("served").mock.reset()


# --------------------------------------------------------------------------- gateway + SDK


def test_gateway_responses_with_the_sdk(served: SimpleNamespace) -> None:
    call = ToolCall(id="call_7", name="lookup", arguments='{"q":"x"}')
    served.mock.enqueue("The answer.", [call])
    tokens = served.app.state.gateway.metrics.tokens
    before = tokens["mock/mock-model", "completion"]
    response = served.client.responses.create(
        model="mock/mock-model", input="question?", instructions="brief", store=False
    )
    assert response.output_text == "The answer."
    assert response.usage.input_tokens > 0
    request = served.mock.last_call.request
    assert (request.input, request.instructions, request.store) == ("question?", "brief", False)
    tools = served.client.responses.create(model="mock/mock-model", input="use a tool")
    calls = [item for item in tools.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [("call_7", "lookup", '{"q":"x"}')]
    # Both calls were accounted: "The answer." is 3 tokens, one tool call 1 token.
    assert tokens["mock/mock-model", "completion"] == before + 4


def test_gateway_responses_stream_with_the_sdk(served: SimpleNamespace) -> None:
    served.mock.enqueue("one two three")
    with served.client.responses.create(model="mock/mock-model", input="x", stream=True) as stream:
        events = list(stream)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "one two three"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_gateway_completions_with_the_sdk(served: SimpleNamespace) -> None:
    served.mock.enqueue("Hello world")
    completion = served.client.completions.create(
        model="mock/mock-model", prompt="Say", max_tokens=5
    )
    assert completion.choices[0].text == "Hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert served.mock.last_call.request.max_tokens == 5
    served.mock.enqueue("a b c")
    chunks = list(
        served.client.completions.create(model="mock/mock-model", prompt="Say", stream=True)
    )
    assert "".join(c.choices[0].text for c in chunks) == "a b c"
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    assert chunks[-1].usage is not None


def test_gateway_transcriptions_with_the_sdk(served: SimpleNamespace) -> None:
    served.mock.enqueue(
        TranscriptionResponse(
            text="hi there",
            model="mock-model",
            provider="mock",
            language="english",
            duration=60.0,
            segments=[TranscriptionSegment("hi there", 0.0, 1.0, speaker="A")],
        )
    )
    audio = b"RIFF" + bytes(range(256)) * 4
    result = served.client.audio.transcriptions.create(
        model="mock/mock-model",
        file=("clip.wav", audio),
        language="en",
        response_format="verbose_json",
        timestamp_granularities=["segment"],
    )
    assert result.text == "hi there"
    assert result.language == "english"
    assert result.segments[0].speaker == "A"
    request = served.mock.last_call.request
    assert request.audio == audio
    assert request.filename == "clip.wav"
    assert request.language == "en"
    assert request.timestamp_granularities == ("segment",)
    served.mock.enqueue("plain text")
    text = served.client.audio.transcriptions.create(
        model="mock/mock-model", file=("a.mp3", b"ID3"), response_format="text"
    )
    assert text.strip() == "plain text"


def test_gateway_refuses_before_calling_the_provider(served: SimpleNamespace) -> None:
    with pytest.raises(openai.BadRequestError, match="responses"):
        served.client.responses.create(model="plain/mock-model", input="x")
    restricted = openai.OpenAI(base_url=served.url, api_key=RESTRICTED, max_retries=0)
    try:
        with pytest.raises(openai.PermissionDeniedError):
            restricted.completions.create(model="mock/mock-model", prompt="x")
    finally:
        restricted.close()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=served.url, api_key="vk-wrong-key-000000", max_retries=0
        ).responses.create(model="mock/mock-model", input="x")
    with pytest.raises(openai.BadRequestError, match="input"):
        served.client.responses.create(model="mock/mock-model", input="")
    assert served.mock.calls == []


async def test_gateway_with_the_async_sdk(served: SimpleNamespace) -> None:
    client = openai.AsyncOpenAI(base_url=served.url, api_key=KEY, max_retries=0)
    try:
        served.mock.enqueue("async answer")
        response = await client.responses.create(model="mock/mock-model", input="x")
        assert response.output_text == "async answer"
    finally:
        await client.close()


# --------------------------------------------------------------------------- drop-in client


@pytest.fixture
def dropin() -> Iterator[SimpleNamespace]:
    registry = Registry()
    mock = MockProvider("mock", pricing=PRICE)
    registry.register("mock", mock)
    client = OpenAI(registry=registry)
    yield SimpleNamespace(client=client, mock=mock, registry=registry)
    client.close()


def test_dropin_responses(dropin: SimpleNamespace) -> None:
    dropin.mock.enqueue("drop in")
    response = dropin.client.responses.create(
        model="mock/mock-model",
        input=[{"role": "user", "content": "hi"}],
        reasoning={"effort": "low"},
    )
    assert response.output_text == "drop in"
    assert response.output[0].content[0].text == "drop in"
    assert response.lmux_response.cost is not None
    assert dropin.mock.last_call.request.reasoning == {"effort": "low"}
    dropin.mock.enqueue("s t")
    events = list(dropin.client.responses.create(model="mock/mock-model", input="x", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "s t"
    assert events[-1].response.output_text == "s t"


def test_dropin_completions_and_transcriptions(dropin: SimpleNamespace, tmp_path: object) -> None:
    dropin.mock.enqueue("done")
    completion = dropin.client.completions.create(model="mock/mock-model", prompt="x")
    assert completion.choices[0].text == "done"
    assert completion.usage.completion_tokens == 1
    dropin.mock.enqueue(
        TranscriptionResponse(
            text="words", model="m", provider="mock", duration=30.0, usage=Usage()
        )
    )
    result = dropin.client.audio.transcriptions.create(model="mock/mock-model", file=b"\x00\x01")
    assert result.text == "words"
    assert result.lmux_response.cost.total == Decimal("0.003")
    dropin.mock.enqueue("streamed words")
    events = list(
        dropin.client.audio.transcriptions.create(
            model="mock/mock-model", file=b"\x00", stream=True
        )
    )
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == "streamed words"
    assert events[-1].text == "streamed words"


async def test_dropin_async_resources() -> None:
    registry = Registry()
    mock = MockProvider("mock")
    registry.register("mock", mock)
    client = AsyncOpenAI(registry=registry)
    mock.enqueue("a", "b c")
    response = await client.responses.create(model="mock/mock-model", input="x")
    assert response.output_text == "a"
    stream = await client.completions.create(model="mock/mock-model", prompt="x", stream=True)
    texts = [chunk.choices[0].text async for chunk in stream]
    assert "".join(texts) == "b c"
    await client.close()


def test_dropin_errors_are_openai_named(dropin: SimpleNamespace) -> None:
    dropin.registry.register("plain", MockProvider("plain", capabilities={Capability.CHAT}))
    with pytest.raises(openai.BadRequestError) as info:
        dropin.client.responses.create(model="plain/mock-model", input="x")
    assert isinstance(info.value, lmux_plug.UnsupportedFeatureError)
    dropin.mock.enqueue(lmux_plug.RateLimitError("slow down", retry_after=1.0))
    with pytest.raises(openai.RateLimitError):
        dropin.client.completions.create(model="mock/mock-model", prompt="x")
