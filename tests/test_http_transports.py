"""Test transports (mock, record, replay) passed to ``Registry``, and vcrpy / pytest-recording.

The OpenAI plugin is the provider under test throughout; the transports replace only the
network, so the whole path (codec, error mapping, streaming) runs for real.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug import TimeoutError
from lmux_plug.http import Transport
from lmux_plug.http import _aiohttp_is_patched
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.transports import CassetteError
from lmux_plug.transports import MockRequest
from lmux_plug.transports import MockResponse
from lmux_plug.transports import MockTransport
from lmux_plug.transports import RecordingTransport
from lmux_plug.transports import ReplayTransport
from tests.helpers import chat_chunk_event

KEY = "sk-transport-test-" + "k" * 20


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def _chunk(text: str | None, finish: str | None = None) -> dict[str, object]:
    delta = {"content": text} if text is not None else {}
    return chat_chunk_event(delta, finish, model="gpt-4o-mini", created=1)


async def test_mock_transport_answers_a_registry_call_sync_and_async_handlers() -> None:
    def sync_handler(request: MockRequest) -> MockResponse:
        assert request.method == "POST"
        assert request.url == "https://api.openai.com/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.json()["messages"] == [{"role": "user", "content": "hi"}]
        return MockResponse.json(_completion("hello there"))

    async def async_handler(request: MockRequest) -> MockResponse:
        await asyncio.sleep(0)
        return MockResponse.json(_completion(f"async {request.json()['model']}"))

    for handler, expected in ((sync_handler, "hello there"), (async_handler, "async gpt-4o-mini")):
        transport = MockTransport(handler)
        registry = Registry.from_entry_points(transport=transport)
        response = await registry.achat("openai/gpt-4o-mini", "hi", api_key=KEY)
        assert response.content == expected
        assert len(transport.requests) == 1


async def test_mock_transport_streams_and_maps_errors_like_the_real_one() -> None:
    def handler(request: MockRequest) -> MockResponse:
        model = request.json()["model"]
        if model == "limited":
            return MockResponse.json(
                {"error": {"message": "slow down", "type": "rate_limit"}},
                status=429,
                headers={"retry-after": "3"},
            )
        if model == "reset":
            raise ConnectionResetError("peer reset")
        if model == "hung":
            raise asyncio.TimeoutError
        return MockResponse.sse(
            [_chunk("Hel"), _chunk("lo"), _chunk(None, "stop")],
        )

    registry = Registry.from_entry_points(transport=MockTransport(handler))
    pieces = [
        chunk.delta
        async for chunk in registry.achat_stream("openai/gpt-4o-mini", "hi", api_key=KEY)
    ]
    assert "".join(p for p in pieces if p) == "Hello"
    with pytest.raises(RateLimitError) as limited:
        await registry.achat("openai/limited", "hi", api_key=KEY)
    assert limited.value.retry_after == 3
    with pytest.raises(ProviderError, match="peer reset"):
        await registry.achat("openai/reset", "hi", api_key=KEY)
    with pytest.raises(TimeoutError):
        await registry.achat("openai/hung", "hi", api_key=KEY)


async def test_mock_transport_applies_the_header_policy_and_checks_handlers() -> None:
    transport = MockTransport(lambda _r: MockResponse.json({}))
    with pytest.raises(InvalidRequestError, match="set by the transport"):
        await transport.request("POST", "http://x.invalid/", headers={"Host": "evil"}, json_body={})
    assert transport.requests == []
    wrong = MockTransport(lambda _r: {"not": "a response"})  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return a MockResponse"):
        await wrong.request("GET", "http://x.invalid/")


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_a_body_json_cannot_carry_is_refused_before_the_handler(number: float) -> None:
    # Sent as json writes it (NaN, Infinity), every API would answer 400 after the trip.
    transport = MockTransport(lambda _r: MockResponse.json({}))
    with pytest.raises(InvalidRequestError, match="cannot be sent as JSON"):
        await transport.request("POST", "http://x.invalid/", json_body={"w": [0.5, number]})
    with pytest.raises(InvalidRequestError, match="cannot be sent as JSON"):
        await transport.request("POST", "http://x.invalid/", json_body={"w": {1, 2}})
    assert transport.requests == []


async def test_record_then_replay_without_network(tmp_path: Path) -> None:
    cassette = tmp_path / "chat.jsonl"
    async with FakeOpenAIServer() as server:
        recorder = RecordingTransport(Transport(), cassette)
        registry = Registry.from_entry_points(transport=recorder)
        base = server.url
        first = await registry.achat("openai/fake-model", "first", api_key=KEY, base_url=base)
        streamed = [
            c.delta
            async for c in registry.achat_stream(
                "openai/fake-model", "second", api_key=KEY, base_url=base
            )
        ]
        await registry.aclose()
    text = cassette.read_text()
    assert KEY not in text  # the key (header and anywhere else) is scrubbed
    assert "REDACTED" in text
    entries = [json.loads(line) for line in text.splitlines()[1:]]
    assert len(entries) == 2
    assert "".join(c["text"] for c in entries[1]["response"]["chunks"]).endswith("[DONE]\n\n")

    replay = ReplayTransport(cassette)
    registry = Registry.from_entry_points(transport=replay)
    # Nothing listens there: the replay must not connect (the path is the recorded one).
    nowhere = "http://127.0.0.1:9" + urlsplit(base).path
    again = await registry.achat("openai/fake-model", "first", api_key="other", base_url=nowhere)
    assert again.content == first.content
    replayed = [
        c.delta
        async for c in registry.achat_stream(
            "openai/fake-model", "second", api_key="other", base_url=nowhere
        )
    ]
    assert replayed == streamed
    assert replay.remaining() == 0
    with pytest.raises(CassetteError, match="no recorded answer"):
        await registry.achat("openai/fake-model", "never recorded", api_key="k", base_url=nowhere)


async def test_recording_scrubs_declared_secrets_and_error_answers_replay_typed(
    tmp_path: Path,
) -> None:
    cassette = tmp_path / "errors.jsonl"
    secret = "tenant-" + "s" * 16

    def upstream(request: MockRequest) -> MockResponse:
        return MockResponse.json(
            {"error": {"message": f"quota for {secret} exhausted", "type": "rate_limit"}},
            status=429,
            headers={"x-echo": secret},
        )

    recorder = RecordingTransport(MockTransport(upstream), cassette, secrets=[secret])
    with pytest.raises(RateLimitError):
        await recorder.request(
            "POST", "https://api.example/v1/x?key=" + secret, json_body={"q": 1}, secrets=(secret,)
        )
    text = cassette.read_text()
    assert secret not in text
    with pytest.raises(RateLimitError):
        await ReplayTransport(cassette).request(
            "POST", "https://elsewhere.example/v1/x", json_body={"q": 1}
        )


async def test_a_recorded_stream_replays_chunk_by_chunk(tmp_path: Path) -> None:
    events = [_chunk("a"), _chunk("b"), _chunk(None, "stop")]
    cassette = tmp_path / "stream.jsonl"
    recorder = RecordingTransport(MockTransport(lambda _r: MockResponse.sse(events)), cassette)
    live = await recorder.stream("POST", "https://api.example/v1/chat", json_body={"s": 1})
    recorded = [chunk async for chunk in live.iter_bytes()]
    replayed = await ReplayTransport(cassette).stream(
        "POST", "https://other.example/v1/chat", json_body={"s": 1}
    )
    assert [chunk async for chunk in replayed.iter_bytes()] == recorded
    assert len(recorded) == len(events) + 1  # one chunk per event, and [DONE]


def test_a_broken_cassette_is_a_typed_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"request": {}}\n')
    with pytest.raises(CassetteError, match=r"broken\.jsonl:1"):
        ReplayTransport(broken)
    with pytest.raises(CassetteError, match="cannot read"):
        ReplayTransport(tmp_path / "missing.jsonl")


# -- vcrpy and pytest-recording keep working unchanged ----------------------------------------


async def test_vcrpy_cassettes_see_the_registry_traffic(tmp_path: Path) -> None:
    import vcr  # type: ignore[import-untyped]

    cassette = tmp_path / "vcr.yaml"
    async with FakeOpenAIServer() as server:
        registry = Registry.from_entry_points()
        assert not _aiohttp_is_patched()
        with vcr.VCR(record_mode="all").use_cassette(str(cassette)):
            assert _aiohttp_is_patched()
            recorded = await registry.achat(
                "openai/fake-model", "vcr", api_key=KEY, base_url=server.url
            )
        assert not _aiohttp_is_patched()
        await registry.aclose()
    assert "/v1/chat/completions" in cassette.read_text()
    # Replay with the server gone: vcrpy answers, nothing connects.
    registry = Registry.from_entry_points()
    with vcr.VCR(record_mode="none").use_cassette(str(cassette)):
        replayed = await registry.achat(
            "openai/fake-model", "vcr", api_key=KEY, base_url=server.url
        )
    await registry.aclose()
    assert replayed.content == recorded.content


def test_the_patch_check_is_not_fooled_by_a_functools_wraps_replacement() -> None:
    """A wrapper that copies aiohttp's name and module (as vcrpy's does) counts as a patch."""
    import functools

    from aiohttp import client

    original = client.ClientSession.__dict__["_request"]

    @functools.wraps(original)
    async def replacement(*args: Any, **kwargs: Any) -> Any:
        return await original(*args, **kwargs)

    assert not _aiohttp_is_patched()
    client.ClientSession._request = replacement  # type: ignore[method-assign]
    try:
        assert _aiohttp_is_patched()
    finally:
        client.ClientSession._request = original  # type: ignore[method-assign]
    assert not _aiohttp_is_patched()


def test_pytest_recording_style_use(pytester: pytest.Pytester) -> None:
    """``@pytest.mark.vcr`` records through the registry once, then replays offline."""
    pytest.importorskip("pytest_recording")
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture(scope="module")
            def vcr_config():
                return {"filter_headers": ["authorization"]}
            """
        )
    )
    pytester.makepyfile(
        test_recorded=textwrap.dedent(
            """
            import asyncio, os

            import pytest

            from lmux_plug import Registry

            @pytest.mark.vcr
            def test_chat():
                async def go():
                    registry = Registry.from_entry_points()
                    try:
                        return await registry.achat(
                            "openai/fake-model", "pytest-recording",
                            api_key="sk-recorded", base_url=os.environ["FAKE_URL"],
                        )
                    finally:
                        await registry.aclose()
                assert asyncio.run(go()).content
            """
        )
    )

    async def serve_and_record() -> Any:
        async with FakeOpenAIServer() as server:
            pytester._monkeypatch.setenv("FAKE_URL", server.url)
            return await asyncio.to_thread(
                pytester.runpytest_subprocess, "--record-mode=once", "-p", "no:cacheprovider"
            )

    recorded = asyncio.run(serve_and_record())
    recorded.assert_outcomes(passed=1)
    cassettes = list(Path(pytester.path).rglob("*.yaml"))
    assert cassettes, "pytest-recording wrote no cassette"
    assert "sk-recorded" not in cassettes[0].read_text()
    # The server is gone: only the cassette can answer; --block-network proves no socket.
    replayed = pytester.runpytest_subprocess(
        "--record-mode=none", "--block-network", "-p", "no:cacheprovider"
    )
    replayed.assert_outcomes(passed=1)
