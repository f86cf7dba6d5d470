"""Hostile input to a real gateway on 127.0.0.1: malformed bodies, leaked keys, label floods,
slow headers and large bodies (issue 12, items 6, 7 and 19; a key echoed by an upstream).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import openai
import pytest

from lmux_plug import EmbeddingResponse
from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug.errors import PluginError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider

KEY = "vk-input-client-key-0001"
PROVIDER_KEY = "prov-SECRET-9f8e7d6c5b4a3210"
HI = [{"role": "user", "content": "hi"}]


class Served:
    """A running gateway over a mock provider whose answers the test sets."""

    def __init__(self, url, app, mock):
        self.url = url
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.app = app
        self.mock = mock

    def post(self, path, body, headers=None):
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        try:
            connection.request(
                "POST",
                path,
                body=body,
                headers={
                    "authorization": f"Bearer {KEY}",
                    "content-type": "application/json",
                    **(headers or {}),
                },
            )
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def get(self, path):
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        try:
            connection.request("GET", path, headers={"authorization": f"Bearer {KEY}"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def served():
    mock = MockProvider("mock", pricing=ModelPricing(input=Decimal("1e-6"), output=Decimal("1e-6")))
    registry = Registry()
    registry.register("mock", mock, api_key=PROVIDER_KEY)
    keys = KeyStore([VirtualKey("client", hash_key(KEY))])
    app = create_app(registry=registry, keys=keys, max_body_bytes=2 << 20)
    with run_in_thread(app, header_timeout=1.0) as url:
        yield Served(url, app, mock)


@pytest.fixture(autouse=True)
def _reset(request):
    if "served" in request.fixturenames:
        served = request.getfixturevalue("served")
        served.mock.reset()
        served.mock.handler = None


def _openai_error(status, data):
    assert 400 <= status < 500, (status, data[:300])
    body = json.loads(data)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def _chat(**fields):
    return json.dumps({"model": "mock/mock-model", "messages": HI, **fields}).encode()


def _nested(depth, leaf="x"):
    return "[" * depth + json.dumps(leaf) + "]" * depth


@pytest.mark.parametrize(
    ("body", "param"),
    [
        # Deeply nested JSON: the decoder's recursion limit, and depths the decoder accepts
        # but recursive code further on would not.
        (b'{"model": "mock/mock-model", "messages": ' + _nested(100_000).encode() + b"}", None),
        (b'{"model": "mock/mock-model", "messages": ' + _nested(500).encode() + b"}", "body"),
        (_chat(extra=json.loads(_nested(200))), "body"),
        (_chat(stop=5), "stop"),
        (_chat(stop=True), "stop"),
        (_chat(stop=["a", 1]), "stop"),
        (_chat(stop=[["a"]]), "stop"),
        (_chat(tools=json.loads(_nested(300, {"type": "function"}))), None),
        (_chat(tools=[{"type": "function", "function": {"name": 5}}]), "tools[0].function.name"),
        (_chat(tools=[{"type": "function"}]), "tools[0].function"),
        (_chat(tools={"a": 1}), "tools"),
        (_chat(tool_choice=7), "tool_choice"),
        (_chat(tool_choice={"type": "function"}), "tool_choice"),
        (_chat(response_format="json"), "response_format"),
        (_chat(response_format={"type": "xml"}), "response_format.type"),
        (_chat(temperature=True), "temperature"),
        (_chat(temperature=9), "temperature"),
        (_chat(top_p=[1]), "top_p"),
        (_chat(max_tokens=0), "max_tokens"),
        (_chat(max_tokens=1.5), "max_tokens"),
        (_chat(max_completion_tokens="9"), "max_completion_tokens"),
        (_chat(seed=2**70), "seed"),
        (_chat(logit_bias=[1]), "logit_bias"),
        (_chat(logit_bias={"1": "x"}), "logit_bias.1"),
        (_chat(user=5), "user"),
        (_chat(metadata={"a": 1}), "metadata.a"),
        (_chat(stream_options=[]), "stream_options"),
        (_chat(stream_options={"include_usage": "y"}), "stream_options.include_usage"),
        (_chat(n=2), "n"),
        (_chat(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (_chat(messages=[{"role": "user"}]), "messages[0].content"),
        (_chat(messages=[{"role": "user", "content": [{"type": "x"}]}]), None),
        (_chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), None),
        (_chat(messages=[{"role": "user", "content": [5]}]), "messages[0].content[0]"),
        (_chat(messages=[{"role": "tool", "content": "r"}]), "messages[0].tool_call_id"),
        (_chat(messages=[{"role": "assistant", "tool_calls": [{"id": 1}]}]), None),
        (_chat(messages=["hi"]), "messages[0]"),
        (b'{"model": "mock/mock-model", "messages": [], "temperature": NaN}', "body"),
        (b'{"model": "mock/mock-model", "messages": [], "temperature": Infinity}', "body"),
        (b'{"model": "mock/mock-model", "seed": 1' + b"0" * 5000 + b"}", None),
    ],
)
def test_malformed_chat_bodies_are_400_json(served, body, param):
    status, _, data = served.post("/v1/chat/completions", body)
    assert status == 400, data[:300]
    error = _openai_error(status, data)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert served.mock.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": "mock/mock-model", "input": [[1, 2], 3]},
        {"model": "mock/mock-model", "input": "x", "dimensions": True},
        {"model": "mock/mock-model", "input": "x", "user": {}},
        {"model": "mock/mock-model", "input": json.loads(_nested(400))},
    ],
)
def test_malformed_embedding_bodies_are_400_json(served, body):
    status, _, data = served.post("/v1/embeddings", json.dumps(body).encode())
    _openai_error(status, data)
    assert status == 400


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    # Not a finite, non-negative number: no wait given; a huge one: capped at an hour.
    [(float("inf"), None), (float("nan"), None), (-5.0, None), (1e300, "3600"), (2.5, "3")],
)
def test_odd_retry_after_from_upstream_is_a_json_429(served, retry_after, expected):
    served.mock.enqueue(RateLimitError("slow down", retry_after=retry_after))
    status, headers, data = served.post("/v1/chat/completions", _chat())
    assert status == 429
    error = _openai_error(status, data)
    assert error["type"] == "rate_limit_error"
    assert headers.get("retry-after") == expected


def test_a_key_echoed_by_the_upstream_never_reaches_a_client_log_or_metric(served, caplog):
    echo = f"upstream says your key is {PROVIDER_KEY}!"
    caplog.set_level(logging.DEBUG, logger="lmux_plug")
    with openai.OpenAI(base_url=served.url, api_key=KEY, max_retries=0) as client:
        # A malformed-but-200 answer that quotes the key.
        served.mock.enqueue(echo)
        reply = client.chat.completions.create(model="mock/mock-model", messages=HI)
        assert PROVIDER_KEY not in reply.model_dump_json()
        assert "***" in reply.choices[0].message.content
        # The same in a stream.
        served.mock.enqueue(echo)
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="mock/mock-model", messages=HI, stream=True
            )
            if chunk.choices
        )
        assert PROVIDER_KEY not in streamed
        # In an error body, and in a plugin bug's exception (logged with its traceback).
        for error in (ProviderError(echo, status_code=502), PluginError(echo)):
            served.mock.enqueue(error)
            with pytest.raises(openai.APIStatusError) as info:
                client.chat.completions.create(model="mock/mock-model", messages=HI)
            assert PROVIDER_KEY not in info.value.response.text
        served.mock.handler = lambda call: (_ for _ in ()).throw(ValueError(echo))
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="mock/mock-model", messages=HI)
        assert PROVIDER_KEY not in info.value.response.text
        served.mock.handler = None
        # In an embeddings body.
        served.mock.enqueue(EmbeddingResponse([[0.5]], echo, "mock"))
        raw = client.embeddings.with_raw_response.create(model="mock/mock-model", input="x")
        assert PROVIDER_KEY not in raw.http_response.text
    for record in caplog.records:
        assert PROVIDER_KEY not in record.getMessage()
        assert PROVIDER_KEY not in (record.exc_text or "")
    status, metrics = served.get("/metrics")
    assert status == 200
    assert PROVIDER_KEY.encode() not in metrics


def test_unknown_model_names_do_not_grow_the_metrics(served):
    served.mock.handler = lambda call: "ok"
    body = lambda i: json.dumps({"model": f"mock/invented-{i}", "messages": HI}).encode()  # noqa: E731
    for i in range(50):
        served.post("/v1/chat/completions", body(i))
    size_after_50 = len(served.get("/metrics")[1])
    connection = http.client.HTTPConnection(*served.address, timeout=30)
    for i in range(50, 2050):
        connection.request(
            "POST",
            "/v1/chat/completions",
            body=body(i),
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    connection.close()
    status, text = served.get("/metrics")
    assert status == 200
    assert b"invented" not in text
    assert b'model="other"' in text
    # 2,000 more names, not one more byte but the counters' digits.
    assert len(text) < size_after_50 + 200


def _closed_within(sock, seconds):
    sock.settimeout(seconds)
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_slow_and_idle_header_connections_are_closed(served):
    # One header byte every 0.2 s: uvicorn alone would wait forever (slowloris).
    slow = socket.create_connection(served.address)
    idle = socket.create_connection(served.address)  # never sends a byte
    stop = threading.Event()

    def dribble():
        for byte in b"GET /health HTTP/1.1\r\nhost: x\r\nx-long-header: " + b"a" * 100:
            if stop.wait(0.2):
                return
            try:
                slow.send(bytes([byte]))
            except OSError:
                return

    sender = threading.Thread(target=dribble, daemon=True)
    sender.start()
    try:
        assert _closed_within(slow, 5) is not None
        assert _closed_within(idle, 5) is not None
    finally:
        stop.set()
        sender.join(5)
        slow.close()
        idle.close()
    # A normal client still gets served on a fresh connection.
    assert served.get("/health")[0] == 200


_POSTER = """
import http.client, json, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
body = json.dumps({
    "model": "mock/mock-model",
    "messages": [{"role": "user", "content": "word " * 40} for _ in range(5000)],
    "max_tokens": 5,
}).encode()
assert len(body) > 1_000_000
end = time.monotonic() + seconds
statuses = []
while time.monotonic() < end:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.request("POST", "/v1/chat/completions", body=body, headers={
        "authorization": "Bearer " + sys.argv[4], "content-type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    statuses.append(response.status)
print(json.dumps(statuses))
"""


@pytest.mark.slow
def test_large_bodies_do_not_stall_other_clients(served):
    served.mock.handler = lambda call: "ok"

    def small_latencies(count):
        connection = http.client.HTTPConnection(*served.address, timeout=30)
        out = []
        for _ in range(count):
            started = time.perf_counter()
            connection.request(
                "POST",
                "/v1/chat/completions",
                body=_chat(),
                headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            out.append(time.perf_counter() - started)
            time.sleep(0.01)
        connection.close()
        return out

    alone = statistics.median(small_latencies(40))
    # Four clients in their own processes post 1.1 MB bodies (5,000 messages) back to back.
    host, port = served.address
    posters = [
        subprocess.Popen(
            [sys.executable, "-c", _POSTER, host, str(port), "4", KEY],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        time.sleep(0.5)
        loaded = statistics.median(small_latencies(100))
    finally:
        outputs = [poster.communicate(timeout=120)[0] for poster in posters]
    statuses = [status for out in outputs for status in json.loads(out)]
    assert statuses
    assert set(statuses) == {200}
    # The bodies are decoded and converted on worker threads, so the event loop keeps
    # answering small requests (the finding: 2.8 ms -> 144 ms median).
    assert loaded < alone + 0.05, (alone, loaded)


def test_a_router_does_not_keep_every_model_name_a_client_invents():
    from lmux_plug.router import Router

    mock = MockProvider("mock", handler=lambda call: "ok")
    registry = Registry()
    registry.register("mock", mock)
    router = Router(registry=registry)
    app = create_app(router=router, keys=KeyStore([VirtualKey("client", hash_key(KEY))]))
    with run_in_thread(app) as url:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for i in range(2000):
            body = json.dumps({"model": f"mock/invented-{i}", "messages": HI}).encode()
            connection.request(
                "POST",
                "/v1/chat/completions",
                body=body,
                headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        connection.request("GET", "/metrics", headers={"authorization": f"Bearer {KEY}"})
        response = connection.getresponse()
        metrics = response.read()
        connection.close()
    deployments = router.stats()["deployments"]
    # The router remembers a bounded number of implicit deployments (the latest ones).
    assert 100 < len(deployments) <= 1024
    assert "mock/invented-1999" in deployments
    assert "mock/invented-0" not in deployments
    # /metrics shows configured deployments by name and folds the rest into "other".
    assert b"invented" not in metrics
    assert b'lmux_router_requests_total{deployment="other"} ' in metrics


@pytest.mark.parametrize("retry_after", [float("inf"), float("nan")])
def test_retry_after_inf_or_nan_from_a_real_upstream_is_a_json_429(retry_after):
    plugin = pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")
    from lmux_plug import ApiKeyAuth
    from lmux_plug import ProviderSpec
    from lmux_plug.testing.fake_openai import FakeOpenAIServer
    from lmux_plug.testing.fake_openai import FaultPlan

    server = FakeOpenAIServer(FaultPlan(retry_after=retry_after))
    with server.run_in_thread() as upstream:
        registry = Registry(plugins=[plugin])
        spec = ProviderSpec(
            name="up",
            wire="openai",
            base_url=upstream.url,
            auth=ApiKeyAuth(env=("LMUX_TEST_UPSTREAM_KEY",)),
            default_headers={"x-fake-fault": "429"},
        )
        registry.register("up", spec, api_key=PROVIDER_KEY)
        keys = KeyStore([VirtualKey("client", hash_key(KEY))])
        with run_in_thread(create_app(registry=registry, keys=keys)) as url:
            parts = urlsplit(url)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps({"model": "up/fake-model", "messages": HI}).encode(),
                headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
            )
            response = connection.getresponse()
            data = response.read()
            connection.close()
        registry.close()
    assert response.status == 429, data
    assert response.getheader("content-type") == "application/json"
    assert _openai_error(response.status, data)["type"] == "rate_limit_error"
    assert response.getheader("retry-after") is None  # no usable wait was given
