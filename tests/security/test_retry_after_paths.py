"""``Retry-After: inf`` / ``nan`` from an upstream, on every gateway route (issue 12.7).

A real OpenAI-wire upstream on 127.0.0.1 answers every call with 429 and an unusable wait
(``inf``, ``nan``, ``-5``, ``1e400``, and the same in ``retry-after-ms``). Every route,
streamed or not, over a registry or a router that retries, must answer a JSON 429 promptly
(bounded by the client's timeout), never a plain-text 500 or a wait forever, and never
pass the odd value on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing.servers import serve_app

WAITS = ["inf", "nan", "-5", "1e400", "Infinity"]
HI = [{"role": "user", "content": "hi"}]
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("chat/completions", {"messages": HI}),
    "chat-stream": ("chat/completions", {"messages": HI, "stream": True}),
    "embeddings": ("embeddings", {"input": "hi"}),
    "completions": ("completions", {"prompt": "hi"}),
    "completions-stream": ("completions", {"prompt": "hi", "stream": True}),
    "responses": ("responses", {"input": "hi"}),
    "responses-stream": ("responses", {"input": "hi", "stream": True}),
}
MODELS = {"embeddings": "text-embedding-3-small", "completions": "gpt-3.5-turbo-instruct"}


class Refusing:
    """Every call: 429 with the wait of the moment."""

    def __init__(self) -> None:
        self.wait = "inf"
        self.calls = 0
        self.app = web.Application()
        self.app.router.add_post("/v1/{tail:.*}", self.refuse)

    async def refuse(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        body = {"error": {"message": "slow down", "type": "rate_limit_error", "code": None}}
        headers = {"retry-after": self.wait, "retry-after-ms": self.wait}
        return web.json_response(body, status=429, headers=headers)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Refusing, str]]:
    server = Refusing()
    async with serve_app(server.app) as url:
        yield server, url


def _model(route: str) -> str:
    return "openai/" + MODELS.get(route.removesuffix("-stream"), "gpt-4o")


async def _ask(url: str, route: str, model: str) -> tuple[int, str, dict[str, str], str]:
    path, body = ROUTES[route]
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(f"{url}/{path}", json={"model": model, **body}) as response,
    ):
        return (
            response.status,
            response.headers.get("content-type", ""),
            dict(response.headers),
            await response.text(),
        )


def _check(status: int, content_type: str, headers: dict[str, str], text: str) -> None:
    assert status == 429, text
    assert content_type.startswith("application/json"), text
    assert json.loads(text)["error"]["type"] == "rate_limit_error"
    for name in ("retry-after", "retry-after-ms"):
        value = headers.get(name)
        assert value is None or (value.isdigit() and int(value) < 10**7), (name, value)


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_over_a_registry(upstream: tuple[Refusing, str], route: str) -> None:
    server, base = upstream
    registry = Registry.from_entry_points()
    registry.configure("openai", base_url=f"{base}/v1", api_key="sk-retry-after-test-key")
    with run_in_thread(create_app(registry=registry)) as url:
        for wait in WAITS:
            server.wait = wait
            _check(*await _ask(url, route, _model(route)))
    await registry.aclose()


@pytest.mark.parametrize("route", ["chat", "chat-stream", "embeddings"])
async def test_a_router_that_retries(upstream: tuple[Refusing, str], route: str) -> None:
    server, base = upstream
    registry = Registry.from_entry_points()
    registry.configure("openai", api_key="sk-retry-after-test-key")
    deployment = Deployment(_model(route), base_url=f"{base}/v1")
    router = Router({"pool": LogicalModel("pool", [deployment])}, registry=registry)
    with run_in_thread(create_app(router=router)) as url:
        for wait in WAITS:
            server.wait = wait
            before = server.calls
            _check(*await _ask(url, route, "pool"))
            assert server.calls > before
    await registry.aclose()
