"""A scriptable server on 127.0.0.1 that answers in Anthropic's Messages API format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import lmux_plug_anthropic
import pytest
from aiohttp import web

from lmux_plug import Registry
from lmux_plug.testing.servers import serve_app


def sse(events: list[dict[str, Any]]) -> bytes:
    """Frame events as Anthropic does: ``event: <type>`` then ``data: <json>``."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def message_events(
    *,
    text: str = "",
    tools: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    stop_reason: str = "end_turn",
    usage: dict[str, int] | None = None,
    output_tokens: int = 7,
) -> list[dict[str, Any]]:
    """A full stream: message_start, blocks (text, then tool_use), message_delta, stop."""
    start_usage = usage or {"input_tokens": 11, "output_tokens": 1}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [],
                "stop_reason": None,
                "usage": start_usage,
            },
        },
        {"type": "ping"},
    ]
    index = 0
    if text:
        events.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
        )
        events.extend(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text[start : start + 5]},
            }
            for start in range(0, len(text), 5)
        )
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    for call_id, name, arguments in tools:
        events.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}},
            }
        )
        events.extend(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": arguments[start : start + 4]},
            }
            for start in range(0, len(arguments), 4)
        )
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events


def message_body(
    *,
    text: str | None = None,
    tools: list[tuple[str, str, dict[str, Any]]] = (),  # type: ignore[assignment]
    stop_reason: str = "end_turn",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A complete (non-streamed) message body."""
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    content.extend({"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in tools)
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 11, "output_tokens": 7},
    }


@attrs.define
class Reply:
    """One scripted answer: a status, headers and a JSON body or SSE bytes."""

    status: int = 200
    json_body: Any = None
    sse_body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    # Stream this many more copies of a ping event, slowly, after sse_body (early-close test).
    trickle: int = 0


@attrs.define
class FakeAnthropic:
    """The running server: queue replies, read back the requests it received."""

    url: str
    replies: list[Reply] = attrs.field(factory=list)
    requests: list[dict[str, Any]] = attrs.field(factory=list)
    disconnected: asyncio.Event = attrs.field(factory=asyncio.Event)

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)


SERVER = web.AppKey("server", FakeAnthropic)


async def _handle(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER]
    body = await request.json()
    server.requests.append({"headers": dict(request.headers), "body": body, "path": request.path})
    reply = server.replies.pop(0) if server.replies else Reply(json_body=message_body(text="hi"))
    headers = {"request-id": f"req_{len(server.requests)}", **reply.headers}
    if reply.sse_body is None:
        return web.json_response(reply.json_body, status=reply.status, headers=headers)
    response = web.StreamResponse(
        status=reply.status, headers={**headers, "content-type": "text/event-stream"}
    )
    await response.prepare(request)
    completed = False
    try:
        await response.write(reply.sse_body)
        for _ in range(reply.trickle):
            await asyncio.sleep(0.02)
            await response.write(b'event: ping\ndata: {"type": "ping"}\n\n')
        completed = True
    except ConnectionError:
        pass
    finally:
        # A write that failed, or a handler cancelled by the disconnect: the client left.
        if not completed:
            server.disconnected.set()
    return response


@pytest.fixture
async def anthropic_server() -> AsyncIterator[FakeAnthropic]:
    """Start the fake server on an ephemeral 127.0.0.1 port; stop it after the test."""
    server = FakeAnthropic(url="")
    app = web.Application()
    app[SERVER] = server
    app.router.add_post("/v1/messages", _handle)
    async with serve_app(app) as url:
        server.url = url
        yield server


@pytest.fixture
async def registry(anthropic_server: FakeAnthropic) -> AsyncIterator[Registry]:
    """A registry with only this plugin, pointed at the fake server with a placeholder key."""
    reg = Registry(plugins=[lmux_plug_anthropic], builtins=False)
    reg.configure("anthropic", api_key="test-key", base_url=anthropic_server.url)
    try:
        yield reg
    finally:
        await reg.aclose()


@pytest.fixture
def wire() -> Any:
    """The reply builders, for test modules (importlib mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        Reply=Reply, message_body=message_body, message_events=message_events, sse=sse
    )
