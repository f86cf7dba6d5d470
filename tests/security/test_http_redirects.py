"""Redirects under one policy on every path: credentials never reach another origin (issue 12.14).

Two real servers on 127.0.0.1 (two ports: two origins). The first redirects, the second
echoes the headers it received. The paths: the lean client, aiohttp (``fast_path=False``),
aiohttp through an HTTP proxy, and aiohttp for a URL with user info.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug.http import Transport
from tests.helpers import read_request

SECRET = "sk-test-" + "q" * 24
SENT = {
    "authorization": f"Bearer {SECRET}",
    "x-api-key": SECRET,
    "x-goog-api-key": SECRET,
    "api-key": SECRET,
    "cookie": "session=abc",
    "x-acme-auth": "declared-by-the-provider-spec",
    "x-carrier": f"token={SECRET}",
    "x-benign": "kept",
}
CREDENTIALS = set(SENT) - {"x-benign"}


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "query": dict(request.query),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode(),
        }
    )


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def origins() -> AsyncIterator[tuple[str, str]]:
    """(redirecting origin A, echoing origin B)."""
    other = web.Application()
    other.router.add_route("*", "/echo", _echo)
    runner_b, url_b = await _start(other)

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        where = request.query.get("to", "other")
        location = f"{url_b}/echo" if where == "other" else "/echo"
        return web.Response(status=status, headers={"location": location})

    first = web.Application()
    first.router.add_route("*", "/r/{status}", redirect)
    first.router.add_route("*", "/echo", _echo)
    runner_a, url_a = await _start(first)
    yield url_a, url_b
    await runner_a.cleanup()
    await runner_b.cleanup()


async def _proxy_server(seen: list[str]) -> tuple[asyncio.AbstractServer, str]:
    """A forwarding HTTP proxy (absolute-form requests), enough for plain-http targets."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import aiohttp

        try:
            while (request := await read_request(reader)) is not None:
                request_line, headers, body = request
                method, target, _ = request_line.split(" ")
                seen.append(target)
                forwarded = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("host", "content-length", "proxy-connection", "connection")
                }
                async with (
                    aiohttp.ClientSession(auto_decompress=False) as session,
                    session.request(
                        method, target, headers=forwarded, data=body, allow_redirects=False
                    ) as upstream,
                ):
                    data = await upstream.read()
                    out = [f"HTTP/1.1 {upstream.status} X"]
                    out += [
                        f"{k}: {v}"
                        for k, v in upstream.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")
                    ]
                    out.append(f"content-length: {len(data)}")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


PATHS = ["lean", "aiohttp", "proxy", "user-info"]


@pytest.fixture(params=PATHS)
async def send(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    """``send(method, url, **kw)`` over one of the transport's paths."""
    path = request.param
    proxy = None
    seen: list[str] = []
    if path == "proxy":
        proxy, proxy_url = await _proxy_server(seen)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
    transport = Transport(
        fast_path=path != "aiohttp", trust_env=path == "proxy", credential_headers=("X-Acme-Auth",)
    )

    async def do(method: str, url: str, **kwargs: Any) -> Any:
        if path == "user-info":
            if "authorization" in kwargs.get("headers", {}):
                # The user info is the authorization here (basic auth); both: refused.
                with pytest.raises(InvalidRequestError, match="user info"):
                    await transport.request(
                        method, url.replace("http://", "http://a:b@", 1), **kwargs
                    )
            url = url.replace("http://", "http://alice:pw@", 1)
            headers = dict(kwargs.pop("headers", {}))
            headers.pop("authorization", None)
            kwargs["headers"] = headers
        return await transport.request(method, url, **kwargs)

    yield do
    await transport.aclose()
    if proxy is not None:
        assert seen, "the proxy path was not taken"
        proxy.close()
        await proxy.wait_closed()


@pytest.mark.parametrize(("method", "status"), [("POST", 307), ("POST", 308), ("GET", 302)])
async def test_cross_origin_redirect_carries_no_credentials(
    origins: tuple[str, str], send: Callable[..., Any], method: str, status: int
) -> None:
    url_a, _ = origins
    body = {"prompt": "hi"} if method == "POST" else None
    response = await send(
        method, f"{url_a}/r/{status}", headers=SENT, json_body=body, secrets=(SECRET,)
    )
    seen = response.json()
    assert seen["method"] == method
    received = seen["headers"]
    assert not CREDENTIALS & set(received), received
    assert SECRET not in str(received)
    assert received["x-benign"] == "kept"
    if method == "POST":
        assert seen["body"] == '{"prompt": "hi"}'  # 307/308 keep the body


async def test_same_origin_redirect_keeps_credentials(
    origins: tuple[str, str], send: Callable[..., Any]
) -> None:
    url_a, _ = origins
    response = await send(
        "POST", f"{url_a}/r/307?to=same", headers=SENT, json_body={"a": 1}, secrets=(SECRET,)
    )
    received = response.json()["headers"]
    assert received["x-api-key"] == SECRET
    assert received["x-acme-auth"] == SENT["x-acme-auth"]


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_a_post_is_never_turned_into_a_get(
    origins: tuple[str, str], send: Callable[..., Any], status: int
) -> None:
    url_a, _ = origins
    with pytest.raises(ProviderError, match=f"answered {status} redirecting to .*into a GET"):
        await send("POST", f"{url_a}/r/{status}", headers=SENT, json_body={}, secrets=(SECRET,))


async def test_query_params_do_not_follow_a_redirect(
    origins: tuple[str, str], send: Callable[..., Any]
) -> None:
    url_a, _ = origins
    response = await send(
        "POST", f"{url_a}/r/307", json_body={}, params={"key": SECRET}, secrets=(SECRET,)
    )
    assert response.json()["query"] == {}


async def test_https_to_plain_http_is_refused_on_both_paths(
    origins: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    local_tls: tuple[ssl.SSLContext, Path],
) -> None:
    server_context, bundle = local_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    _, url_b = origins

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"location": f"{url_b}/echo"})

    app = web.Application()
    app.router.add_route("*", "/down", down)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}/down"
    try:
        for fast_path in (True, False):
            transport = Transport(fast_path=fast_path)
            try:
                with pytest.raises(ProviderError, match="from https to plain http"):
                    await transport.request("POST", url, headers=SENT, json_body={"a": 1})
            finally:
                await transport.aclose()
    finally:
        await runner.cleanup()
