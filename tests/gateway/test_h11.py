"""The gateway on uvicorn's h11 protocol, under many concurrent keep-alive clients.

The benchmark's "h11" row failed every call: it hid ``httptools`` to make uvicorn fall back
to h11, but the core HTTP client frames upstream responses with ``httptools`` too, so every
upstream call failed (500). The row now hides uvicorn's httptools protocol only; these tests
serve the gateway with :class:`H11DeadlineProtocol` (in process, and as the benchmark runs
it, in a subprocess) in front of a real OpenAI-wire upstream on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import aiohttp
from uvicorn.protocols.http.h11_impl import H11Protocol

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.protocol import protocol_class
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing.fake_openai import FakeOpenAIServer

KEY = "vk-h11-client-0001"
CLIENTS = 100
REQUESTS = 5
BODY = {"model": "openai/fake-model", "messages": [{"role": "user", "content": "hello h11"}]}


def _app(upstream_url: str):
    registry = Registry.from_entry_points()
    registry.configure("openai", base_url=upstream_url, api_key="sk-h11-upstream-key")
    return create_app(registry=registry, keys=KeyStore([VirtualKey("h11", hash_key(KEY))]))


async def _load(url: str) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    headers = {"authorization": f"Bearer {KEY}"}
    timeout = aiohttp.ClientTimeout(total=60)

    async def client() -> None:
        # One keep-alive connection per client, reused for every request.
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(REQUESTS):
                async with session.post(f"{url}/chat/completions", json=BODY, headers=headers) as r:
                    data = await r.read()
                    ok = (
                        r.status == 200
                        and json.loads(data)["choices"][0]["message"]["content"]
                        == "echo: hello h11"
                    )
                    outcomes["ok" if ok else f"{r.status} {data[:200]!r}"] += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return outcomes


def test_h11_serves_many_concurrent_keep_alive_clients() -> None:
    protocol = protocol_class(10.0, h11=True)
    assert issubclass(protocol, H11Protocol)
    with FakeOpenAIServer().run_in_thread() as upstream:
        app = _app(upstream.url)
        with run_in_thread(app, protocol=protocol) as url:
            outcomes = asyncio.run(_load(url))
            in_flight = app.state.gateway.metrics.in_flight
        # Every client kept one connection to the gateway.
        assert outcomes == Counter({"ok": CLIENTS * REQUESTS})
        assert in_flight == 0


def test_h11_closes_a_connection_whose_headers_are_too_slow() -> None:
    with FakeOpenAIServer().run_in_thread() as upstream:
        protocol = protocol_class(0.3, h11=True)
        with run_in_thread(_app(upstream.url), protocol=protocol) as url:
            host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")  # no end
                assert sock.recv(1024) == b""  # closed by the deadline, not by the test


def _bench_module():
    """``bench/bench_gateway.py``, loaded as a module (its helpers start the gateway)."""
    bench = Path(__file__).resolve().parents[2] / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location("bench_gateway", bench / "bench_gateway.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(bench))


def test_the_benchmarks_h11_gateway_serves_real_upstream_calls(tmp_path: Path) -> None:
    bench = _bench_module()
    config = tmp_path / "lmux.toml"
    with FakeOpenAIServer().run_in_thread() as upstream:
        config.write_text(f'[gateway.providers.openai]\nbase_url = "{upstream.url}"\n')
        env = {**os.environ, "OPENAI_API_KEY": "sk-h11-upstream-key"}
        command = [sys.executable, "-c", bench._PLAIN_SERVE, "--port", "0", "--config", str(config)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        try:
            port = _printed_port(process)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            body = json.dumps(BODY).encode()
            for _ in range(20):
                request = urllib.request.Request(
                    url, data=body, headers={"content-type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.loads(response.read())
                assert answer["choices"][0]["message"]["content"] == "echo: hello h11"
        finally:
            process.terminate()
            process.communicate(timeout=30)


def _printed_port(process: subprocess.Popen[str]) -> str:
    """The port the gateway prints when it listens (within 60 s)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        for _ in range(600):
            if selector.select(timeout=0.1):
                line = process.stdout.readline()
                assert line, "the gateway exited before listening"
                found = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
                if found:
                    return found.group(1)
    msg = "the gateway did not print its address within 60 s"
    raise AssertionError(msg)
