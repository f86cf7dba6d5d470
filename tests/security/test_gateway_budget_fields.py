"""A budgeted key cannot make a call write more than its reservation covers.

The budget reserves a call's worst case from the limit the request declares (``max_tokens``,
``max_output_tokens``). A provider-specific limit passed through as a raw body field
(Gemini's ``generationConfig.maxOutputTokens``, Ollama's ``options.num_predict``) or several
completions at once (``n``, ``best_of``) would make the provider write past it: 200 such
calls in flight would overspend by 200 calls' excess. Real gateway on 127.0.0.1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider

BUDGET_KEY = "vk-budget-fields-0001"
OPEN_KEY = "vk-budget-fields-open-0002"
HI = [{"role": "user", "content": "hi"}]
# 0.001 USD per output token: 100 tokens cost 0.1; the budget is 1.
PRICE = ModelPricing(input=Decimal(0), output=Decimal("0.001"))

SMUGGLED: list[tuple[str, dict[str, Any], str]] = [
    (
        "chat/completions",
        {"messages": HI, "generationConfig": {"maxOutputTokens": 10**6}},
        "generationConfig",
    ),
    ("chat/completions", {"messages": HI, "options": {"num_predict": 10**6}}, "options"),
    (
        "chat/completions",
        {"messages": HI, "inferenceConfig": {"maxTokens": 10**6}},
        "inferenceConfig",
    ),
    ("chat/completions", {"messages": HI, "max_new_tokens": 10**6}, "max_new_tokens"),
    ("responses", {"input": "hi", "max_tokens": 10**6}, "max_tokens"),
    ("responses", {"input": "hi", "generation": [{"max-output-tokens": 10**6}]}, "generation"),
    ("completions", {"prompt": "hi", "max_completion_tokens": 10**6}, "max_completion_tokens"),
]


@pytest.fixture
def gateway_url():
    registry = Registry()
    registry.register("mock", MockProvider("mock", pricing=PRICE, handler=lambda call: "ok"))
    keys = KeyStore(
        [
            VirtualKey("budget", hash_key(BUDGET_KEY), budget=Decimal(1)),
            VirtualKey("open", hash_key(OPEN_KEY)),
        ]
    )
    with run_in_thread(create_app(registry=registry, keys=keys)) as url:
        yield url


async def _post(url: str, path: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(f"{url}/{path}", json={"model": "mock/mock-model", **body}) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize(("path", "body", "param"), SMUGGLED)
async def test_provider_output_limits_are_refused_on_a_budgeted_key(gateway_url, path, body, param):
    status, answer = await _post(gateway_url, path, BUDGET_KEY, {**body, "max_tokens": 100})
    if path == "responses":  # its own field is max_output_tokens
        status, answer = await _post(
            gateway_url, path, BUDGET_KEY, {**body, "max_output_tokens": 100}
        )
    assert status == 400, answer
    assert answer["error"]["param"] == param
    # A key without a budget reserves nothing: the same body goes through.
    status, answer = await _post(gateway_url, path, OPEN_KEY, body)
    assert status == 200, answer


async def test_several_completions_reserve_each_one(gateway_url):
    # n=1: 100 tokens reserved (0.1 of 1); n=20: 2,000 tokens (2.0): more than the budget.
    status, answer = await _post(
        gateway_url, "completions", BUDGET_KEY, {"prompt": "hi", "max_tokens": 100, "n": 20}
    )
    assert status == 429, answer
    assert answer["error"]["code"] == "budget_exceeded"
    status, answer = await _post(
        gateway_url, "completions", BUDGET_KEY, {"prompt": "hi", "max_tokens": 100, "best_of": 11}
    )
    assert status == 429, answer
    status, _ = await _post(
        gateway_url, "completions", BUDGET_KEY, {"prompt": "hi", "max_tokens": 100, "n": 1}
    )
    assert status == 200
    status, answer = await _post(
        gateway_url, "completions", BUDGET_KEY, {"prompt": "hi", "max_tokens": 100, "n": "2"}
    )
    assert status == 400
    assert answer["error"]["param"] == "n"


async def test_a_transcription_reserves_the_most_audio_its_upload_can_hold():
    # whisper-style pricing: 0.006 USD a minute. An upload of N bytes holds at most N / 750
    # seconds (6 kbit/s speech): 1 MB is 22 minutes, 0.13 USD, more than the 0.05 budget.
    registry = Registry()
    per_minute = ModelPricing(input=Decimal(0), output=Decimal(0), per_minute=Decimal("0.006"))
    registry.register("mock", MockProvider("mock", pricing=per_minute, handler=lambda call: "ok"))
    keys = KeyStore([VirtualKey("budget", hash_key(BUDGET_KEY), budget=Decimal("0.05"))])

    async def upload(url: str, size: int) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("model", "mock/mock-model")
        form.add_field("file", b"\0" * size, filename="a.ogg")
        headers = {"authorization": f"Bearer {BUDGET_KEY}"}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.post(f"{url}/audio/transcriptions", data=form) as response,
        ):
            return response.status, await response.json()

    with run_in_thread(create_app(registry=registry, keys=keys)) as url:
        status, answer = await upload(url, 1 << 20)
        assert status == 429, answer
        assert answer["error"]["code"] == "budget_exceeded"
        status, answer = await upload(url, 30_000)  # 40 s at most: 0.004 USD
        assert status == 200, answer
