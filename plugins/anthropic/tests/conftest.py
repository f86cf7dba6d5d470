"""The fake server (``WireServer``) scripted with answers in Anthropic's Messages API format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

import lmux_plug_anthropic
import pytest

from lmux_plug import Registry
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer


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
    # Blocks in order: the text (5 characters a delta), then each tool call (4 a delta).
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if text:
        deltas = [
            {"type": "text_delta", "text": text[at : at + 5]} for at in range(0, len(text), 5)
        ]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for call_id, name, arguments in tools:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": arguments[at : at + 4]}
            for at in range(0, len(arguments), 4)
        ]
        blocks.append((block, deltas))
    for index, (block, deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
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


def reply(
    *,
    status: int = 200,
    json_body: Any = None,
    sse_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    trickle: int = 0,
) -> Reply:
    """One scripted answer: a JSON body, or SSE bytes followed by ``trickle`` slow pings.

    The pings (one every 20 ms) keep a stream open for the early-close test.
    """
    if sse_body is None:
        return Reply.with_json(json_body, status=status, headers=headers)
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'
    return Reply(
        status,
        {**(headers or {}), "content-type": "text/event-stream"},
        (sse_body, *[ping] * trickle),
        stream=True,
        pause=0.02 if trickle else 0.0,
    )


@pytest.fixture
async def anthropic_server() -> AsyncIterator[WireServer]:
    """The fake server (``enqueue`` replies, read ``requests``) on a free 127.0.0.1 port."""
    default = reply(json_body=message_body(text="hi"))
    async with WireServer(lambda _request: default, request_id_header="request-id") as server:
        yield server


@pytest.fixture
def registry(anthropic_server: WireServer, plugin_registry: Callable[..., Registry]) -> Registry:
    """A registry with only this plugin, pointed at the fake server with a placeholder key."""
    base_url = anthropic_server.origin()
    return plugin_registry(lmux_plug_anthropic, "anthropic", api_key="test-key", base_url=base_url)


@pytest.fixture
def wire() -> Any:
    """The reply builders, for test modules (importlib mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        Reply=reply, message_body=message_body, message_events=message_events, sse=sse
    )
