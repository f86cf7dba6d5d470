"""A key an upstream echoes in a successful answer never reaches a batch output file.

``lmux-plug batch`` runs against a real OpenAI-wire upstream on 127.0.0.1 that answers every
prompt with the key it was sent, in the content. The output file is what outlives the run: it must show ``[redacted]`` where the key was.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from lmux_plug._secrets import forget_secrets
from lmux_plug.batch.cli import batch_main
from lmux_plug.testing.servers import serve_app

KEY = "sk-batch.ECHO.0a1b2c3d4e5f6789"


async def _echo(request: web.Request) -> web.Response:
    await request.read()
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    message = {"role": "assistant", "content": f"the key you sent is {key}"}
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12},
        }
    )


@pytest.fixture
def upstream() -> Iterator[str]:
    """The echoing upstream, served from its own thread (the batch CLI runs its own loop)."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    url: list[str] = []
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", _echo)
        async with serve_app(app) as base:
            url.append(base)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(30)
        loop.close()


def test_batch_output_never_shows_an_echoed_key(
    upstream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_secrets()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{upstream}/v1")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(f"prompt {i}") + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    code = batch_main([str(source), "-o", str(out), "-m", "openai/gpt-4o", "--no-progress"])
    assert code == 0
    written = out.read_text()
    assert KEY not in written
    records = [json.loads(line) for line in written.splitlines()]
    assert len(records) == 5
    for record in records:
        assert record["error"] is None
        assert record["output"] == "the key you sent is [redacted]"
