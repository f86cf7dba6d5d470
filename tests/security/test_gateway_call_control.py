"""A gateway client cannot choose where the gateway's provider key goes (an exfiltration).

``/v1/responses``, ``/v1/completions`` and ``/v1/audio/transcriptions`` turn body fields into
keywords of the library call. ``base_url`` in a body used to send the call, with the
gateway's own provider key, to any URL the client named; ``api_key``, ``extra_headers``,
``timeout`` and raw body overrides (``extra``: ``{"model": ...}`` past the allowlist and the
price check) came through too. A real "attacker" server on 127.0.0.1 must see nothing, and
each such field is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing.servers import serve_app

PROVIDER_KEY = "sk-gateway.provider.KEY.0011223344"
CLIENT_KEY = "vk-call-control-client-0001"


class Collector:
    """Any server: records who called it, with which credentials."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.answer)

    async def answer(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append((request.path, request.headers.get("authorization", "")))
        return web.json_response({"error": {"message": "no"}}, status=500)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Collector, Collector, str, str]]:
    upstream, attacker = Collector(), Collector()
    async with serve_app(upstream.app) as up, serve_app(attacker.app) as evil:
        yield upstream, attacker, up, evil


def _bodies(evil: str) -> list[tuple[str, Any]]:
    return [
        ("base_url", f"{evil}/v1"),
        ("api_key", "sk-attacker-chosen"),
        ("extra_headers", {"authorization": "Bearer sk-attacker-chosen"}),
        ("timeout", "x"),
        ("extra", {"model": "gpt-4o-expensive"}),
        ("extra_body", {"model": "gpt-4o-expensive"}),
    ]


async def test_call_control_fields_are_refused_on_every_api_route(servers) -> None:
    upstream, attacker, up, evil = servers
    registry = Registry.from_entry_points()
    registry.configure("openai", base_url=f"{up}/v1", api_key=PROVIDER_KEY)
    keys = KeyStore([VirtualKey("client", hash_key(CLIENT_KEY))])
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with run_in_thread(create_app(registry=registry, keys=keys)) as url:
        async with aiohttp.ClientSession(headers=headers) as session:
            for name, value in _bodies(evil):
                for stream in (False, True):
                    for path, body in (
                        ("responses", {"model": "openai/gpt-4o", "input": "hi"}),
                        ("completions", {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "hi"}),
                    ):
                        sent = {**body, "stream": stream, name: value}
                        async with session.post(f"{url}/{path}", json=sent) as response:
                            error = (await response.json())["error"]
                        assert response.status == 400, (path, name, error)
                        assert error["param"] == name
                if isinstance(value, str):  # a form field of a transcription upload
                    form = aiohttp.FormData()
                    form.add_field("model", "openai/whisper-1")
                    form.add_field(name, value)
                    form.add_field("file", b"RIFF0000WAVE", filename="a.wav")
                    async with session.post(f"{url}/audio/transcriptions", data=form) as response:
                        error = (await response.json())["error"]
                    assert response.status == 400, ("transcriptions", name, error)
                    assert error["param"] == name
    await registry.aclose()
    assert attacker.seen == []
    assert upstream.seen == []  # refused before any call
