"""Cassettes keep no secret an upstream echoes, whole or split over stream chunks.

A real server on 127.0.0.1 streams an answer that quotes the key of the call (cut in two
over two TCP writes) and another key this process knows (a different provider's). The
recorded cassette must hold neither, in any chunk, and still replay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

import lmux_plug
from lmux_plug.http import Transport
from lmux_plug.testing.servers import serve_app
from lmux_plug.transports import REDACTED
from lmux_plug.transports import RecordingTransport
from lmux_plug.transports import ReplayTransport

CALL_KEY = "sk-cassette.CALL.1234567890ab"
OTHER_KEY = "other-provider-KEY-fedcba0987"


async def _stream(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for piece in (f"data: key {CALL_KEY[:11]}", f"{CALL_KEY[11:]} and {OTHER_KEY[:5]}"):
        await response.write(piece.encode())
        await asyncio.sleep(0.05)  # its own TCP segment, its own chunk
    await response.write(f"{OTHER_KEY[5:]}\n\ndata: [DONE]\n\n".encode())
    return response


async def test_a_split_or_foreign_key_never_reaches_a_cassette(tmp_path: Path) -> None:
    lmux_plug.Secret(OTHER_KEY)  # configured for another provider in this process
    app = web.Application()
    app.router.add_post("/v1/chat", _stream)
    cassette = tmp_path / "split.jsonl"
    async with serve_app(app) as url:
        recorder = RecordingTransport(Transport(), cassette)
        try:
            live = await recorder.stream(
                "POST", f"{url}/v1/chat", json_body={"q": 1}, secrets=(CALL_KEY,)
            )
            chunks = [chunk async for chunk in live.iter_bytes()]
        finally:
            await recorder.aclose()
    assert len(chunks) >= 2, "the key was not split over chunks"
    assert CALL_KEY[:11].encode() in chunks[0]
    text = cassette.read_text()
    for secret in (CALL_KEY, OTHER_KEY):
        assert secret not in text
        assert secret[:11] not in text
    replayed = await ReplayTransport(cassette).stream(
        "POST", "https://elsewhere.example/v1/chat", json_body={"q": 1}
    )
    body = b"".join([chunk async for chunk in replayed.iter_bytes()])
    assert body == f"data: key {REDACTED} and {REDACTED}\n\ndata: [DONE]\n\n".encode()
