"""No free calls through names that lead to an unpriced model (issue 12, finding 2).

A budgeted key reaches ``openai/gpt-4o-2024-08-06`` (no known price) through every name the
gateway resolves: the id itself, a gateway alias, a router model, a router model whose
fallback is unpriced, and the body's ``fallback_models``. Each is refused with 403
``unpriced_model`` before the upstream (a real OpenAI-wire server on 127.0.0.1) is called.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer

KEY = "vk-unpriced-names-0001"
UNPRICED = "openai/gpt-4o-2024-08-06"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        (UNPRICED, {}),
        ("cheap", {}),
        ("pool", {}),
        ("mixed", {}),
        ("openai/gpt-4o", {"fallback_models": [UNPRICED]}),
    ],
)
async def test_every_name_of_an_unpriced_model_is_refused(
    model: str, extra: dict[str, Any], stream: bool
) -> None:
    with FakeOpenAIServer().run_in_thread() as upstream:
        registry = Registry.from_entry_points()
        registry.configure("openai", base_url=upstream.url, api_key="sk-unpriced-names-up")
        assert registry.pricing(UNPRICED) is None
        router = Router(
            {
                "pool": LogicalModel("pool", [Deployment(UNPRICED)]),
                "mixed": LogicalModel("mixed", [Deployment("openai/gpt-4o")], fallbacks=("pool",)),
            },
            registry=registry,
        )
        allowed = ("openai/gpt-4o*", "cheap", "pool", "mixed")
        key = VirtualKey("k", hash_key(KEY), budget=Decimal(10), models=allowed)
        app = create_app(router=router, keys=KeyStore([key]), aliases={"cheap": UNPRICED})
        body = {"model": model, "messages": HI, "stream": stream, **extra}
        with run_in_thread(app) as url:
            async with (
                aiohttp.ClientSession(headers={"authorization": f"Bearer {KEY}"}) as session,
                session.post(f"{url}/chat/completions", json=body) as response,
            ):
                answer = await response.json()
            spent = await app.state.gateway.accounts.spent(key)
            requests = upstream.stats["requests"]
        await registry.aclose()
    assert response.status == 403, answer
    assert answer["error"]["code"] == "unpriced_model"
    assert requests == 0
    assert spent == 0


async def test_a_priced_model_on_the_same_key_is_answered_and_charged() -> None:
    """The control: the same setup serves and charges a priced model."""
    with FakeOpenAIServer().run_in_thread() as upstream:
        registry = Registry.from_entry_points()
        registry.configure("openai", base_url=upstream.url, api_key="sk-unpriced-names-up")
        key = VirtualKey("k", hash_key(KEY), budget=Decimal(10), models=("openai/gpt-4o*",))
        app = create_app(registry=registry, keys=KeyStore([key]))
        body = {"model": "openai/gpt-4o", "messages": HI}
        with run_in_thread(app) as url:
            async with (
                aiohttp.ClientSession(headers={"authorization": f"Bearer {KEY}"}) as session,
                session.post(f"{url}/chat/completions", json=body) as response,
            ):
                assert response.status == 200, await response.text()
            spent = await app.state.gateway.accounts.spent(key)
            requests = upstream.stats["requests"]
        await registry.aclose()
    assert requests == 1
    assert spent > 0
