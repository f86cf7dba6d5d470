"""Attacks on the gateway's money and access controls, on a real gateway over 127.0.0.1.

Issue 12, items 1-5: budgets that concurrent calls cannot overspend, unpriced models that
are not free, model ids that cannot walk a URL path, stream cuts that are still charged,
``/stats`` behind a key.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from decimal import Decimal

import openai
import pytest

from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.budget import BudgetPolicy
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider
from tests.helpers import slow_words

KEY = "vk-money-client-key-0001"
OPEN_KEY = "vk-money-open-key-0002"
HI = [{"role": "user", "content": "hi"}]
# 10 output tokens at 0.00125 USD each: every call costs 0.0125 USD, a quarter of 0.05.
CALL_COST = Decimal("0.0125")
PRICED = ModelPricing(input=Decimal(0), output=Decimal("0.00125"))
ANSWER = "x" * 40  # the mock counts 1 token per 4 characters: 10 tokens


def _keys(budget: str, models: tuple[str, ...] = ()) -> KeyStore:
    return KeyStore(
        [
            VirtualKey("money", hash_key(KEY), budget=Decimal(budget), models=models),
            VirtualKey("open", hash_key(OPEN_KEY)),
        ]
    )


async def _slow_answer(call):
    await asyncio.sleep(0.05)  # every call in flight at once: the race the budget must win
    return ANSWER


async def _aspent(app) -> Decimal:
    gateway = app.state.gateway
    return await gateway.accounts.spent(gateway.keys.authenticate(f"Bearer {KEY}"))


def _spent(app) -> Decimal:
    return asyncio.run(_aspent(app))


async def _call(client: openai.AsyncOpenAI, route: str) -> str:
    """One call of ``route`` with at most 10 output tokens: its outcome."""
    try:
        if route == "chat":
            await client.chat.completions.create(
                model="mock/mock-model", messages=HI, max_tokens=10
            )
        elif route == "completions":
            await client.completions.create(model="mock/mock-model", prompt="hi", max_tokens=10)
        else:
            await client.responses.create(model="mock/mock-model", input="hi", max_output_tokens=10)
    except openai.RateLimitError as exc:
        return exc.body["code"]
    return "answered"


@pytest.mark.parametrize("route", ["chat", "completions", "responses"])
async def test_budget_holds_under_200_concurrent_calls(route):
    mock = MockProvider("mock", pricing=PRICED, handler=_slow_answer)
    registry = Registry()
    registry.register("mock", mock)
    app = create_app(registry=registry, keys=_keys("0.05"))
    with run_in_thread(app) as url:
        # 200 connections opened at once to a server in this process: on busy cores the
        # SDK's 5 s connect timeout failed a run; the test is about money, not latency.
        client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=120.0)
        outcomes = await asyncio.gather(*(_call(client, route) for _ in range(200)))
        await client.close()
    answered = outcomes.count("answered")
    assert set(outcomes) <= {"answered", "budget_exceeded"}
    # Four calls' worth of budget: at most four answers, each charged its real cost.
    assert 1 <= answered <= 4
    assert len(mock.calls) == answered
    spent = await _aspent(app)
    assert spent == answered * CALL_COST
    assert spent <= Decimal("0.05") + CALL_COST


def test_unpriced_models_are_refused_on_a_budgeted_key():
    free = MockProvider("free", handler=lambda call: ANSWER)  # declares no price
    registry = Registry()
    registry.register("free", free)
    app = create_app(registry=registry, keys=_keys("1", models=("free/gpt-4o*",)))
    with run_in_thread(app) as url:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        for _ in range(20):
            with pytest.raises(openai.PermissionDeniedError) as info:
                client.chat.completions.create(model="free/gpt-4o-2024-08-06", messages=HI)
            assert info.value.body["code"] == "unpriced_model"
        # A key without a budget may still call it.
        open_client = openai.OpenAI(base_url=url, api_key=OPEN_KEY, max_retries=0)
        assert open_client.chat.completions.create(model="free/any", messages=HI).choices
        client.close()
        open_client.close()
    assert len(free.calls) == 1
    assert _spent(app) == 0


def test_unpriced_models_pay_the_configured_default_price():
    free = MockProvider("free", handler=lambda call: ANSWER)
    registry = Registry()
    registry.register("free", free)
    # 1,250 USD per million output tokens: the same 0.0125 USD per call as above.
    policy = BudgetPolicy.from_config({"unpriced_price": {"input": "0", "output": "1250"}})
    app = create_app(registry=registry, keys=_keys("0.05"), policy=policy)
    with run_in_thread(app) as url:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        answered = 0
        for _ in range(20):
            try:
                client.chat.completions.create(model="free/m", messages=HI, max_tokens=10)
                answered += 1
            except openai.RateLimitError as exc:
                assert exc.body["code"] == "budget_exceeded"
        client.close()
    assert answered == 4
    assert _spent(app) == 4 * CALL_COST


def test_a_budgeted_call_without_max_tokens_is_capped_at_what_was_reserved():
    mock = MockProvider("mock", pricing=PRICED, handler=lambda call: ANSWER)
    registry = Registry()
    registry.register("mock", mock)
    policy = BudgetPolicy(budget_max_tokens=12)
    app = create_app(registry=registry, keys=_keys("1"), policy=policy)
    with (
        run_in_thread(app) as url,
        openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client,
    ):
        client.chat.completions.create(model="mock/mock-model", messages=HI)
    assert mock.last_call.params["max_tokens"] == 12


@pytest.mark.parametrize(
    "model",
    [
        "mock/allowed-1/../secret-model",
        "mock/allowed-1/./x",
        "mock/allowed-1?key=value",
        "mock/allowed-1#fragment",
        "mock/allowed-1%2F..%2Fsecret",
        "mock/allowed-1\\..\\secret",
        "mock/allowed-1 x",
        "mock/allowed-1//x",
        "mock/allowed-1\r\nx: y",
    ],
)
def test_path_tricks_in_model_ids_are_refused(model):
    mock = MockProvider("mock", pricing=PRICED, handler=lambda call: ANSWER)
    registry = Registry()
    registry.register("mock", mock)
    app = create_app(registry=registry, keys=_keys("1", models=("mock/allowed-1*",)))
    with run_in_thread(app) as url:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=model, messages=HI)
        assert info.value.body["code"] == "invalid_model"
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="mock/allowed-1", messages=HI, extra_body={"fallback_models": [model]}
            )
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=model, input="hi")
        client.close()
    assert mock.calls == []
    assert _spent(app) == 0


class _SlowStream(MockProvider):
    """Streams a word every 20 ms, usage only at the end; closing takes time too."""

    async def _stream(self, call):
        self.calls.append(call)
        try:
            async for chunk in slow_words(call.model):
                yield chunk
        finally:
            # Releasing an upstream connection awaits: a disconnect must not skip the charge.
            await asyncio.sleep(0.05)


def _cut_stream(url: str, key: str) -> None:
    """Start a stream with a raw socket, read its first bytes, and hang up."""
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    body = json.dumps(
        {"model": "slow/mock-model", "messages": HI, "stream": True, "max_tokens": 400}
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"word" not in received:
            received += sock.recv(4096)
    # The socket is closed here, mid-stream.


def test_stream_cut_is_charged_every_time():
    slow = _SlowStream("slow", pricing=ModelPricing(input="0.001", output="0.001"))
    registry = Registry()
    registry.register("slow", slow)
    app = create_app(registry=registry, keys=_keys("100"))
    gateway = app.state.gateway
    with run_in_thread(app) as url:
        charged = []
        for _ in range(20):
            before = _spent(app)
            _cut_stream(url, KEY)
            deadline = time.monotonic() + 5
            while gateway.metrics.in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)  # the settlement task and the upstream close finish
            charged.append(_spent(app) - before)
    assert gateway.metrics.in_flight == 0
    # Each cut stream paid for its prompt and what was streamed (never the 200 words it
    # did not get, never nothing).
    assert all(Decimal("0.001") < c < Decimal("0.2") for c in charged), charged
    assert len(slow.calls) == 20


def test_stats_needs_a_key_when_keys_are_enabled():
    from lmux_plug.router import Router

    registry = Registry()
    registry.register("mock", MockProvider("mock", handler=lambda call: ANSWER))
    router = Router(registry=registry)
    app = create_app(router=router, keys=_keys("1"))
    with run_in_thread(app) as url:
        root = url.removesuffix("/v1")
        for headers in ({}, {"authorization": "Bearer vk-wrong"}):
            request = urllib.request.Request(root + "/stats", headers=headers)
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)
            assert info.value.code == 401
            assert json.loads(info.value.read())["error"]["type"] == "invalid_request_error"
            info.value.close()
        request = urllib.request.Request(
            root + "/stats", headers={"authorization": f"Bearer {OPEN_KEY}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert "deployments" in json.loads(response.read())
