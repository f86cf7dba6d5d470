"""Issue 15: every response carries its latency; streams also their time to first token."""

from __future__ import annotations

import asyncio
import time

from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import Registry
from lmux_plug import Usage
from lmux_plug.openai import OpenAI
from lmux_plug.router import Router
from lmux_plug.testing import MockProvider
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


def test_chat_and_embed_carry_latency_over_a_real_socket() -> None:
    with (
        FakeOpenAIServer(FaultPlan(latency=0.05)).run_in_thread() as server,
        Registry.from_entry_points() as registry,
    ):
        registry.configure("openai", base_url=server.url, api_key="sk-test-latency-0")
        started = time.perf_counter()
        response = registry.chat("openai/gpt-4o-mini", "hi")
        elapsed = time.perf_counter() - started
        assert response.latency is not None
        # Seconds (not ms), within what the caller itself saw.
        assert 0.05 <= response.latency <= elapsed
        vectors = registry.embed("openai/text-embedding-3-small", "hi")
        assert vectors.latency is not None
        assert vectors.latency >= 0.05


def test_stream_terminal_chunk_has_latency_and_time_to_first_token() -> None:
    class Slow(MockProvider):
        async def _stream(self, call):  # type: ignore[no-untyped-def, override]
            await asyncio.sleep(0.05)
            yield ChatChunk(delta="a")
            await asyncio.sleep(0.05)
            yield ChatChunk(delta="b")
            yield ChatChunk(
                finish_reason=FinishReason.STOP, usage=Usage(input_tokens=1, output_tokens=2)
            )

    with Registry() as registry:
        registry.register("slow", Slow("slow"))
        chunks = list(registry.chat_stream("slow/m", "x"))
    last = chunks[-1]
    assert last.time_to_first_token is not None
    assert last.latency is not None
    assert 0.05 <= last.time_to_first_token < last.latency
    assert last.latency >= 0.1
    assert chunks[0].latency is None  # only the terminal chunk carries them


def test_equal_answers_stay_equal_whatever_their_latency() -> None:
    with Registry() as registry:
        first = registry.chat("echo/echo-1", "same")
        second = registry.chat("echo/echo-1", "same")
    assert first.latency is not None
    assert first == second


def test_drop_in_completion_exposes_the_latency() -> None:
    with Registry() as registry:
        reply = OpenAI(registry=registry).chat.completions.create(
            model="echo/echo-1", messages=[{"role": "user", "content": "t"}]
        )
        assert reply.lmux_response.latency is not None


def test_responses_completions_and_transcriptions_carry_latency() -> None:
    # The mock answers every endpoint; its handler waits so the latency is measurable.
    async def slow(call):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.03)

    with Registry() as registry:
        mock = MockProvider("slow")
        mock.handler = slow
        registry.register("slow", mock)
        calls = [
            lambda: registry.create_response("slow/m", "hi"),
            lambda: registry.complete("slow/m", "hi"),
            lambda: registry.transcribe("slow/m", b"RIFF0000WAVE"),
        ]
        for call in calls:
            started = time.perf_counter()
            answer = call()
            elapsed = time.perf_counter() - started
            assert answer.latency is not None, type(answer).__name__
            # Seconds (not ms), within what the caller itself saw.
            assert 0.03 <= answer.latency <= elapsed, (type(answer).__name__, answer.latency)


async def test_achat_timed_returns_the_latency_beside_the_answer() -> None:
    # For callers that copy the answer anyway (the router): the latency is not on it yet.
    async def slow(call):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.02)

    mock = MockProvider("slow")
    mock.handler = slow
    async with Registry() as registry:
        registry.register("slow", mock)
        response, latency = await registry.achat_timed("slow/m", "hi")
        plain = await registry.achat("slow/m", "hi")
    assert response.latency is None
    assert latency >= 0.02
    assert plain.latency is not None
    assert plain.latency >= 0.02
    assert response == plain


async def test_a_latency_the_plugin_set_is_kept_by_both_entry_points() -> None:
    mock = MockProvider("timed")
    for _ in range(2):
        mock.enqueue(ChatResponse(content="x", model="m", provider="timed", latency=12.5))
    async with Registry() as registry:
        registry.register("timed", mock)
        _, latency = await registry.achat_timed("timed/m", "hi")
        response = await registry.achat("timed/m", "hi")
    assert latency == 12.5
    assert response.latency == 12.5


async def test_a_routed_answer_carries_its_latency_and_attempts() -> None:
    async with Registry() as registry:
        router = Router({"m": ["echo/echo-1"]}, registry=registry)
        response = await router.achat("m", "hi")
    assert response.content
    assert response.latency is not None
    assert response.latency >= 0
    assert [a.deployment for a in response.attempts] == ["echo/echo-1"]
    assert response.attempts[0].error is None


def test_router_and_drop_in_streams_carry_time_to_first_token() -> None:
    with Registry() as registry:
        router = Router({"fast": ["echo/echo-1"]}, registry=registry)
        response = router.chat("fast", "hi")
        assert response.latency is not None
        last = list(router.chat_stream("fast", "a b"))[-1]
        assert last.latency is not None
        assert last.time_to_first_token is not None
        assert last.time_to_first_token <= last.latency
        chunks = list(
            OpenAI(registry=registry).chat.completions.create(
                model="echo/echo-1", messages=[{"role": "user", "content": "a b"}], stream=True
            )
        )
        inner = chunks[-1].lmux_chunk
        assert inner.latency is not None
        assert inner.time_to_first_token is not None
