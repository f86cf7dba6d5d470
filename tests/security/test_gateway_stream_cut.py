"""A client that hangs up mid-stream pays for what was streamed (issue 12, finding 3).

The gateway is served by uvicorn on 127.0.0.1 and the client is a raw socket that reads the
first streamed words and closes. Starlette then cancels the response task, which is awaiting
the upstream's next chunk; everything the stream's cleanup awaits in that task is cancelled
again. The upstream here is a stream object whose close awaits I/O, as an HTTP body's
release does (``create_app`` takes any ``Client``): with the cleanup awaiting that close
before it charges, the charge and the in-flight count never happen.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from lmux_plug import ChatChunk
from lmux_plug import CompletionChunk
from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug import ResponseChunk
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.hookspecs import hookimpl
from lmux_plug.testing import MockProvider
from tests.helpers import slow_words

KEY = "vk-stream-cut-client-0001"
PRICE = ModelPricing(input=Decimal("0.001"), output=Decimal("0.001"))
MAX_TOKENS = 1000
CUTS = 6
ROUTES = {
    "chat": ("chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    "completions": ("completions", {"prompt": "hi"}),
    "responses": ("responses", {"input": "hi"}),
}
LIMIT_FIELD = {"responses": "max_output_tokens"}


class _SlowWords(MockProvider):
    """A word every 20 ms for 4 s on every streamed API, usage only at the end."""

    async def _stream(self, call: Any) -> AsyncIterator[ChatChunk]:
        self.calls.append(call)
        async for chunk in slow_words(call.model):
            yield chunk

    # The Responses and completion streams are the hooks themselves (MockProvider has no
    # per-API override point for them): a word every 20 ms, as for chat.
    @hookimpl
    def lmux_plug_complete_stream(self, request: Any, provider: Any) -> AsyncIterator[Any]:
        self.calls.append(self._mock_call("complete_stream", request, provider))
        return self._words(lambda: CompletionChunk(delta="word ", model=request.model))

    @hookimpl
    def lmux_plug_create_response_stream(self, request: Any, provider: Any) -> AsyncIterator[Any]:
        self.calls.append(self._mock_call("response_stream", request, provider))
        return self._words(lambda: ResponseChunk(type="response.output_text.delta", delta="word "))

    @staticmethod
    async def _words(chunk: Any) -> AsyncIterator[Any]:
        for _ in range(200):
            await asyncio.sleep(0.02)
            yield chunk()


class _ReleasingStream:
    """An upstream body: iterating reads chunks; closing awaits the connection's release."""

    def __init__(self, inner: AsyncIterator[Any], released: list[int]) -> None:
        self._inner = inner
        self._released = released

    def __aiter__(self) -> _ReleasingStream:
        return self

    async def __anext__(self) -> Any:
        return await self._inner.__anext__()

    async def aclose(self) -> None:
        await asyncio.sleep(0.01)  # a round trip to give the connection back
        await self._inner.aclose()  # type: ignore[attr-defined]
        self._released.append(1)


class _ReleasingRegistry(Registry):
    """A registry whose streams are :class:`_ReleasingStream` objects."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[int] = []

    def achat_stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _ReleasingStream(super().achat_stream(*args, **kwargs), self.released)

    def acomplete_stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _ReleasingStream(super().acomplete_stream(*args, **kwargs), self.released)

    def acreate_response_stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _ReleasingStream(super().acreate_response_stream(*args, **kwargs), self.released)


def _cut(url: str, route: str, how: str) -> None:
    """Start a stream on a raw socket and hang up: after the first word, or at once."""
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    path, fields = ROUTES[route]
    limit = LIMIT_FIELD.get(route, "max_tokens")
    body = json.dumps(
        {"model": "slow/mock-model", "stream": True, limit: MAX_TOKENS, **fields}
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        if how != "fin":  # close with a RST instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(
            f"POST /v1/{path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n".encode()
            + f"authorization: Bearer {KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        if how == "at-once":
            return  # before the first byte of the answer
        received = b""
        for _ in range(1000):
            if b"word" in received:
                break
            data = sock.recv(4096)
            assert data, "the gateway closed the stream before the first word"
            received += data
        assert b"word" in received


@pytest.mark.parametrize("how", ["fin", "rst", "at-once"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_stream_cut_is_charged_and_released_when_the_upstream_close_awaits(route, how):
    slow = _SlowWords("slow", pricing=PRICE)
    registry = _ReleasingRegistry()
    registry.register("slow", slow)
    key = VirtualKey("cut", hash_key(KEY), budget=Decimal(100))
    app = create_app(registry=registry, keys=KeyStore([key]))
    gateway = app.state.gateway
    loop: list[asyncio.AbstractEventLoop] = []
    admit = gateway.accounts.admit

    async def remember_loop(*args: Any, **kwargs: Any) -> Any:
        loop[:] = [asyncio.get_running_loop()]
        return await admit(*args, **kwargs)

    gateway.accounts.admit = remember_loop

    def spent() -> Decimal:
        found = asyncio.run_coroutine_threadsafe(gateway.accounts.spent(key), loop[0])
        return found.result(5)

    charged: list[Decimal] = []
    with run_in_thread(app) as url:
        for number in range(1, CUTS + 1):
            before = spent() if loop else Decimal(0)
            _cut(url, route, how)
            # Bounded wait for the stream's cleanup: the in-flight count, the upstream release.
            for _ in range(500):
                if gateway.metrics.in_flight == 0 and len(registry.released) == number:
                    break
                time.sleep(0.01)
            assert gateway.metrics.in_flight == 0, f"cut {number}: the request is still counted"
            assert len(registry.released) == number, f"cut {number}: upstream not released"
            charged.append(spent() - before)
    assert len(slow.calls) == CUTS
    # Every route pays its prompt and the words it got (if any): never nothing, never the
    # 1,000 output tokens reserved (the Responses and completion routes once kept it all).
    assert all(Decimal("0.0005") < c < Decimal("0.1") for c in charged), charged
