"""Bad client input and misbehaving clients, over raw HTTP to the real gateway."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import pytest


def _post(gateway, path, body, headers=None, method="POST"):
    parts = urlsplit(gateway.root)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    all_headers = {
        "authorization": f"Bearer {gateway.keys.good}",
        "content-type": "application/json",
    }
    all_headers.update(headers or {})
    connection.request(
        method, path, body=body, headers={k: v for k, v in all_headers.items() if v is not None}
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def _assert_openai_error(data, status_type=None):
    body = json.loads(data)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in data.decode()
    if status_type is not None:
        assert body["error"]["type"] == status_type
    return body["error"]


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"\xff\xfe", None),
        (json.dumps({"messages": HI}).encode(), "model"),
        (json.dumps({"model": "", "messages": HI}).encode(), "model"),
        (json.dumps({"model": 42, "messages": HI}).encode(), "model"),
        (json.dumps({"model": "mock/m"}).encode(), "messages"),
        (json.dumps({"model": "mock/m", "messages": "hi"}).encode(), "messages"),
        (json.dumps({"model": "mock/m", "messages": HI, "stream": "yes"}).encode(), "stream"),
        (
            json.dumps({"model": "mock/m", "messages": HI, "fallback_models": "x"}).encode(),
            "fallback_models",
        ),
        (json.dumps({"model": "mock/m", "messages": HI, "retries": -2}).encode(), "retries"),
        (json.dumps({"model": "mock/m", "messages": [{"role": "wizard"}]}).encode(), None),
        (json.dumps({"model": "mock/m", "messages": HI, "temperature": "hot"}).encode(), None),
        (json.dumps({"model": "mock/m", "messages": HI, "n": 3}).encode(), None),
    ],
)
def test_bad_chat_input_is_400(gateway, body, param):
    response, data = _post(gateway, "/v1/chat/completions", body)
    assert response.status == 400
    error = _assert_openai_error(data, "invalid_request_error")
    if param is not None:
        assert error["param"] == param
    assert gateway.mock.calls == []


# One checker of call parameters: the gateway's verdict on a value is the library's.
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", 2),
        ("seed", 2**64 - 1),
        ("seed", 2**64),
        ("reasoning_effort", "extreme"),
        ("reasoning_effort", "low"),
        ("top_k", 0),
        ("top_logprobs", 21),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("metadata", {"team": 7}),
        ("n", 1),
    ],
)
def test_gateway_and_library_agree_on_parameter_values(gateway, field, value):
    from lmux_plug.params import InvalidParameterError
    from lmux_plug.params import check_chat_params

    try:
        check_chat_params({field: value})
    except InvalidParameterError as exc:
        library_refuses, param = True, exc.param.replace("['", ".").replace("']", "")
    else:
        library_refuses, param = False, None
    body = json.dumps({"model": "mock/m", "messages": HI, field: value}).encode()
    response, data = _post(gateway, "/v1/chat/completions", body)
    if library_refuses:
        assert response.status == 400, data
        assert _assert_openai_error(data, "invalid_request_error")["param"] == param
    else:
        assert response.status == 200, data


@pytest.mark.parametrize(
    "body",
    [
        {"model": "mock/e"},
        {"model": "mock/e", "input": []},
        {"model": "mock/e", "input": [1, 2, 3]},
        {"model": "mock/e", "input": "x", "encoding_format": "hex"},
        {"model": "mock/e", "input": "x", "dimensions": 0},
    ],
)
def test_bad_embedding_input_is_400(gateway, body):
    response, data = _post(gateway, "/v1/embeddings", json.dumps(body).encode())
    assert response.status == 400
    _assert_openai_error(data, "invalid_request_error")


def test_missing_and_invalid_virtual_key_is_401(gateway):
    body = json.dumps({"model": "mock/m", "messages": HI}).encode()
    for authorization in (None, "Bearer", "Basic abc", "Bearer vk-not-a-key"):
        response, data = _post(
            gateway, "/v1/chat/completions", body, {"authorization": authorization}
        )
        assert response.status == 401
        error = _assert_openai_error(data)
        assert error["code"] in {"missing_api_key", "invalid_api_key"}
    response, data = _post(gateway, "/v1/models", None, {"authorization": None}, method="GET")
    assert response.status == 401
    assert gateway.mock.calls == []


def test_oversize_body_is_413(gateway):
    big = json.dumps(
        {"model": "mock/m", "messages": [{"role": "user", "content": "x" * 100_000}]}
    ).encode()
    response, data = _post(gateway, "/v1/chat/completions", big)
    assert response.status == 413
    _assert_openai_error(data, "invalid_request_error")
    assert gateway.mock.calls == []


def test_oversize_chunked_body_is_413(gateway):
    # No Content-Length: the limit is enforced while reading.
    parts = urlsplit(gateway.root)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    chunks = (b"x" * 16_384 for _ in range(8))
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=chunks,
        headers={"authorization": f"Bearer {gateway.keys.good}", "transfer-encoding": "chunked"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 413
    _assert_openai_error(response.read())
    connection.close()


def test_unknown_path_and_wrong_method(gateway):
    response, data = _post(gateway, "/v1/completions-nope", b"{}")
    assert response.status == 404
    _assert_openai_error(data, "not_found_error")
    response, data = _post(gateway, "/v1/chat/completions", None, method="GET")
    assert response.status == 405
    _assert_openai_error(data)


def test_paths_without_v1_prefix(gateway):
    gateway.mock.enqueue("no prefix")
    body = json.dumps({"model": "mock/m", "messages": HI}).encode()
    response, data = _post(gateway, "/chat/completions", body)
    assert response.status == 200
    assert json.loads(data)["choices"][0]["message"]["content"] == "no prefix"
    response, data = _post(gateway, "/models", None, method="GET")
    assert response.status == 200
    assert json.loads(data)["object"] == "list"


def test_unknown_model_is_404(gateway):
    body = json.dumps({"model": "unknown-provider/x", "messages": HI}).encode()
    response, data = _post(gateway, "/v1/chat/completions", body)
    assert response.status == 404
    assert _assert_openai_error(data, "not_found_error")["code"] == "model_not_found"


def _good_request(gateway, i):
    body = json.dumps(
        {"model": "mock/m", "messages": [{"role": "user", "content": f"n{i}"}]}
    ).encode()
    started = time.monotonic()
    response, data = _post(gateway, "/v1/chat/completions", body)
    return response.status, json.loads(data), time.monotonic() - started


def _read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"connection closed early: {data!r}"
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        more = sock.recv(65536)
        assert more
        body += more
    return head, body


def test_misbehaving_clients_do_not_block_others(gateway):
    parts = urlsplit(gateway.root)
    address = (parts.hostname, parts.port)
    bad = []
    try:
        # 1. A slow client: announces 1000 bytes, sends 10, then stalls.
        slow = socket.create_connection(address, timeout=10)
        slow.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            + f"authorization: Bearer {gateway.keys.good}\r\n".encode()
            + b'content-length: 1000\r\n\r\n{"model": '
        )
        bad.append(slow)
        # 2. Half-sent headers, never finished.
        half = socket.create_connection(address, timeout=10)
        half.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-le")
        bad.append(half)
        # 3. Garbage that is not HTTP at all.
        garbage = socket.create_connection(address, timeout=10)
        garbage.sendall(b"\x00\x01\x02 hello?\r\n\r\n")
        bad.append(garbage)
        # Meanwhile good clients, in parallel, are served promptly.
        gateway.mock.handler = lambda call: f"ok {call.messages[-1].content}"
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: _good_request(gateway, i), range(24)))
        assert [r[0] for r in results] == [200] * 24
        assert [r[1]["choices"][0]["message"]["content"] for r in results] == [
            f"ok n{i}" for i in range(24)
        ]
        assert max(r[2] for r in results) < 1.5  # well under the slow client's body timeout
        # The garbage connection got a 400 (or was closed), never a crash of the server.
        reply = garbage.recv(4096)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400")
        # The slow client is cut off by the body timeout (2 s in this gateway) with a 408.
        slow.settimeout(10)
        head, body = _read_response(slow)
        assert head.startswith(b"HTTP/1.1 408")
        error = _assert_openai_error(body)
        assert error["code"] == "body_timeout"
    finally:
        gateway.mock.handler = None
        for sock in bad:
            sock.close()
    # And the server still serves afterwards.
    assert _good_request(gateway, 99)[0] == 200


def test_client_disconnect_mid_stream_is_cleaned_up(gateway):
    gateway.mock.enqueue(" ".join(f"w{i}" for i in range(200)))
    parts = urlsplit(gateway.root)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    body = json.dumps({"model": "mock/m", "messages": HI, "stream": True}).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {gateway.keys.good}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    sock.close()
    deadline = time.monotonic() + 5
    while gateway.state.metrics.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.state.metrics.in_flight == 0
    assert _good_request(gateway, 1)[0] == 200


def test_max_in_flight_sheds_load():
    import asyncio
    import threading

    import openai

    from lmux_plug import Registry
    from lmux_plug.gateway.app import create_app
    from lmux_plug.gateway.serve import run_in_thread
    from lmux_plug.testing import MockProvider

    gate = threading.Event()

    async def held(call):
        for _ in range(1000):  # bounded: 10 s at most
            if gate.is_set():
                break
            await asyncio.sleep(0.01)
        return "held answer"

    registry = Registry()
    registry.register("mock", MockProvider("mock", handler=held))
    app = create_app(registry=registry, max_in_flight=2)
    metrics = app.state.gateway.metrics
    with (
        run_in_thread(app) as url,
        openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client,
    ):

        def call():
            try:
                return (
                    client.chat.completions.create(model="mock/m", messages=HI)
                    .choices[0]
                    .message.content
                )
            except openai.InternalServerError as exc:
                return (exc.status_code, exc.body["code"], exc.response.headers["retry-after"])

        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            admitted = [pool.submit(call) for _ in range(2)]
            deadline = time.monotonic() + 10
            while metrics.in_flight < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            shed = [pool.submit(call).result(10) for _ in range(3)]
            gate.set()
            assert [f.result(10) for f in admitted] == ["held answer"] * 2
        assert shed == [(503, "overloaded", "1")] * 3
        assert (
            client.chat.completions.create(model="mock/m", messages=HI).choices[0].message.content
            == "held answer"
        )
    registry.close()
