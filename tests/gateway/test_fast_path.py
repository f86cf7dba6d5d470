"""The direct path for model calls answers exactly as the full Starlette stack does."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider

KEY = "vk-fast-path-client-key-0001"
HI = [{"role": "user", "content": "hi"}]


def _app():
    registry = Registry()
    registry.register("mock", MockProvider("mock"), api_key="test-provider-secret-fast-path")
    return create_app(registry=registry, keys=KeyStore([VirtualKey("k", hash_key(KEY))]))


async def _asgi(app, path, body, *, root_path="", key=KEY):
    """One POST straight into the ASGI app: (status, headers, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    data = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), data


CASES = [
    json.dumps({"model": "mock/m", "messages": HI}).encode(),
    b"{not json",
    json.dumps({"model": "mock/m"}).encode(),
    json.dumps({"model": "mock/m", "messages": HI, "retries": -2}).encode(),
    json.dumps({"model": "mock/m", "input": "hello"}).encode(),
    json.dumps({"model": "mock/m", "input": [1, 2]}).encode(),
]


@pytest.mark.parametrize("body", CASES)
@pytest.mark.parametrize("route", ["/v1/chat/completions", "/embeddings"])
async def test_direct_path_matches_full_stack(route, body):
    app = _app()
    # A root_path sends the request through Starlette's middleware and router instead.
    fast = await _asgi(app, route, body)
    full = await _asgi(app, route, body, root_path="/behind-proxy")
    assert fast[0] == full[0]
    assert fast[1][b"content-type"] == full[1][b"content-type"]
    fast_body, full_body = json.loads(fast[2]), json.loads(full[2])
    if fast[0] == 200:
        for data in (fast_body, full_body):  # ids and timestamps differ per call
            data.pop("id", None)
            data.pop("created", None)
    else:
        assert set(fast_body) == {"error"}
    assert fast_body == full_body


async def test_direct_path_checks_the_key():
    app = _app()
    body = json.dumps({"model": "mock/m", "messages": HI}).encode()
    status, _, data = await _asgi(app, "/v1/chat/completions", body, key="vk-wrong")
    assert status == 401
    assert json.loads(data)["error"]["code"] == "invalid_api_key"
    # Starlette builds its middleware stack on first use: the direct path never needed it.
    assert app.middleware_stack is None


def test_middleware_added_later_still_wraps_model_calls():
    app = _app()
    seen = []

    class Tag:
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                seen.append(scope["path"])

            async def tagged(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-tag", b"1")]
                await send(message)

            await self.inner(scope, receive, tagged)

    app.add_middleware(Tag)
    with run_in_thread(app) as url:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        body = json.dumps({"model": "mock/m", "messages": HI})
        headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = connection.getresponse()
        data = json.loads(response.read())
        connection.close()
    assert response.status == 200
    assert response.getheader("x-tag") == "1"
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert seen == ["/v1/chat/completions"]
