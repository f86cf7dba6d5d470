"""The one fake server (``lmux_plug.testing.wire_server``): scripting, recording, faults.

A plain aiohttp client talks to it over 127.0.0.1, so what is checked is what any client
sees on the socket.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer


async def _get(url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, dict(response.headers), await response.read()


async def test_scenario_queue_and_recorded_requests() -> None:
    def echo(request: CapturedRequest) -> Reply:
        return Reply.with_json({"path": request.path, "model": request.model_hint})

    async with WireServer(echo) as server:
        server.enqueue(Reply.with_body("first", "text/plain", status=201))
        url = f"{server.origin()}/v1/models/gemini-x:generate?alt=sse&key=k"
        first = await _get(url, json={"a": 1}, headers={"X-Mixed": "Case"})
        second = await _get(url, json={"model": "m"})
    assert (first[0], first[2]) == (201, b"first")  # the queued reply goes first
    assert second[0] == 200
    assert second[2] == b'{"path": "/v1/models/gemini-x:generate", "model": "m"}'
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/models/gemini-x:generate")
    assert sent.query == {"alt": "sse", "key": "k"}
    assert sent.target == "/v1/models/gemini-x:generate?alt=sse&key=k"
    assert sent.headers["x-mixed"] == "Case"  # names in lower case
    assert sent.json() == {"a": 1}
    assert sent.model_hint == "gemini-x"
    assert server.stats["requests"] == 2
    assert (server.stats["status_201"], server.stats["status_200"]) == (1, 1)


async def test_a_fixed_reply_keeps_header_case_and_numbers_request_ids() -> None:
    reply = Reply.with_json({"ok": True}, headers={"X-RateLimit-Limit": "5"})
    async with WireServer(reply, request_id_header="request-id") as server:
        one = await _get(server.origin())
        two = await _get(server.origin())
        # A reply that sets the header keeps it.
        server.enqueue(Reply.with_json({}, headers={"request-id": "mine"}))
        three = await _get(server.origin())
    assert (one[1]["request-id"], two[1]["request-id"], three[1]["request-id"]) == (
        "req_1",
        "req_2",
        "mine",
    )
    assert one[1]["X-RateLimit-Limit"] == "5"
    assert one[1]["Connection"] == "close"  # no keep-alive unless asked


async def test_streamed_chunks_arrive_as_separate_chunks() -> None:
    frames = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"]
    reply = Reply(200, {"content-type": "text/event-stream"}, frames, stream=True, pause=0.01)
    async with (
        WireServer(reply) as server,
        aiohttp.ClientSession() as session,
        session.post(server.origin()) as response,
    ):
        got = [chunk async for chunk, _ in response.content.iter_chunks() if chunk]
    assert got == frames  # paced: one HTTP chunk each, in order


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with (
        WireServer(Reply.with_json({}), keep_alive=True) as server,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(3):
            async with session.post(server.origin()) as response:
                await response.read()
    assert server.stats["requests"] == 3
    assert server.stats["connections"] == 1


@pytest.mark.parametrize("fault", ["reset-before", "reset-after", "cut"])
async def test_broken_answers_are_client_errors(fault: str) -> None:
    frames = [b"data: partial\n\n"]
    replies = {
        "reset-before": Reply(before="reset"),
        "reset-after": Reply(200, {}, frames, stream=True, after="reset"),
        "cut": Reply.with_json({"long": "body"}),
    }
    reply = replies[fault]
    if fault == "cut":
        reply = Reply(200, {}, reply.chunks, after="cut")  # content-length promises more
    async with WireServer(reply) as server:
        with pytest.raises(aiohttp.ClientError):
            await _get(server.origin())


async def test_a_hanging_reply_records_the_client_leaving() -> None:
    async with WireServer(Reply(before="hang")) as server:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(_get(server.origin()), 0.2)
        assert await server.await_disconnects(1, 5.0)
        assert server.disconnects


async def test_a_stream_left_early_is_recorded() -> None:
    frames = [b"data: tick\n\n"] * 200
    reply = Reply(200, {"content-type": "text/event-stream"}, frames, stream=True, pause=0.01)
    async with (
        WireServer(reply) as server,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(server.origin()) as response:
            await response.content.readany()
            response.close()
        assert await server.await_disconnects(1, 5.0)


def test_thread_mode_serves_blocking_callers_and_serve_resets() -> None:
    with WireServer(Reply.with_body("one", "text/plain")) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
            assert b"\r\n\r\none" in _read_all(sock)
        assert [r.path for r in server.requests] == ["/x"]
        server.serve(lambda _request: Reply.with_body("two", "text/plain"))
        assert server.requests == []
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /y HTTP/1.1\r\nhost: t\r\n\r\n")
            assert b"\r\n\r\ntwo" in _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):  # the server closes: no keep-alive
        data += chunk
    return data


async def test_a_scenario_bug_is_a_500_naming_it() -> None:
    def broken(_request: CapturedRequest) -> Reply:
        raise KeyError("oops")

    async with WireServer(broken) as server:
        status, _, body = await _get(server.origin())
    assert status == 500
    assert b"scenario failed: KeyError('oops')" in body


async def test_fake_openai_injected_faults_come_first_then_the_plan() -> None:
    async with FakeOpenAIServer() as fake:
        fake.inject("503", "429")
        url = f"{fake.url}/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        statuses = [(await _get(url, json=body))[0] for _ in range(3)]
    assert statuses == [503, 429, 200]
    assert (fake.stats["fault_503"], fake.stats["fault_429"]) == (1, 1)
