"""A key an upstream echoes in pieces never reaches a gateway client (issue 12, finding 16).

The fake server (``WireServer``) on 127.0.0.1 plays an OpenAI-wire upstream that answers with the key it was sent, split over two SSE
events (and, inside one event, over two TCP writes): in a chat's content and a tool call's
arguments, in a text completion, in a Responses stream passed through as the provider's
events, and whole in the non-streamed answers of those routes. What a client reassembles
from the gateway's answer must not hold the key; the split key shows as ``***`` once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer
from tests.helpers import chat_chunk_event

KEY = "sk-proj.SPLIT.9f8e7d6c5b4a3210"
HALF = 13  # where the key is cut


def _key_of(request: CapturedRequest) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def _frame(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _torn(event: dict[str, Any]) -> list[bytes]:
    """The event in two writes, cut inside the key."""
    data = _frame(event)
    cut = data.index(KEY.encode()) + HALF
    return [data[:cut], data[cut:]]


def _stream(frames: list[bytes]) -> Reply:
    # One write a frame, 10 ms apart: each arrives in its own read.
    return Reply(200, {"content-type": "text/event-stream"}, frames, stream=True, pause=0.01)


def _completion_event(text: str, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def _response(text: str) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-4o",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 3, "output_tokens": 9, "total_tokens": 12},
    }


class EchoInPieces:
    """The scenario: the OpenAI wire, answering with the caller's key cut in two."""

    def __call__(self, request: CapturedRequest) -> Reply:
        routes = {
            "/v1/chat/completions": self.chat,
            "/v1/completions": self.completions,
            "/v1/responses": self.responses,
        }
        answer = routes.get(request.path)
        if answer is None:
            return Reply.with_json({"error": {"message": "not found"}}, status=404)
        return answer(request.json(), _key_of(request))

    def chat(self, body: dict[str, Any], key: str) -> Reply:
        if not body.get("stream"):
            answer = {
                **chat_chunk_event({}),
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"key {key}"},
                        "finish_reason": "stop",
                    }
                ],
            }
            return Reply.with_json(answer)
        call = {"index": 0, "id": "call_1", "type": "function"}
        arguments = [{**call, "function": {"name": "f", "arguments": '{"k": "' + key[:5]}}]
        usage = {"prompt_tokens": 3, "completion_tokens": 20, "total_tokens": 23}
        return _stream(
            [
                _frame(
                    chat_chunk_event({"role": "assistant", "content": "your key: " + key[:HALF]})
                ),
                _frame(chat_chunk_event({"content": key[HALF:] + " (split);"})),
                *_torn(chat_chunk_event({"content": f" torn {key} end"})),
                _frame(chat_chunk_event({"tool_calls": arguments})),
                _frame(
                    chat_chunk_event(
                        {"tool_calls": [{"index": 0, "function": {"arguments": key[5:] + '"}'}}]}
                    )
                ),
                _frame(chat_chunk_event({"content": "last " + key[:HALF]})),
                _frame(chat_chunk_event({"content": key[HALF:]}, "stop", usage=usage)),
                b"data: [DONE]\n\n",
            ]
        )

    def completions(self, body: dict[str, Any], key: str) -> Reply:
        if not body.get("stream"):
            return Reply.with_json(_completion_event(f"key {key}", "stop"))
        usage = {"prompt_tokens": 3, "completion_tokens": 20, "total_tokens": 23}
        return _stream(
            [
                _frame(_completion_event("key " + key[:HALF])),
                _frame(_completion_event(key[HALF:] + " and " + key[:4])),
                _frame(_completion_event(key[4:], "stop", usage=usage)),
                b"data: [DONE]\n\n",
            ]
        )

    def responses(self, body: dict[str, Any], key: str) -> Reply:
        text = f"key {key} twice {key}"
        if not body.get("stream"):
            return Reply.with_json(_response(text))
        created = {**_response(""), "status": "in_progress", "output": []}
        where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
        pieces = ["key " + key[:HALF], key[HALF:] + " twice " + key[:2], key[2:]]
        deltas = [
            {"type": "response.output_text.delta", **where, "delta": piece, "sequence_number": n}
            for n, piece in enumerate(pieces, start=1)
        ]
        events = [
            {"type": "response.created", "response": created},
            *deltas,
            {"type": "response.output_text.done", **where, "text": text},
            {"type": "response.completed", "response": _response(text)},
        ]
        return _stream([_frame(e) for e in events])


@pytest.fixture
async def gateway_url() -> AsyncIterator[str]:
    async with WireServer(EchoInPieces()) as upstream:
        registry = Registry.from_entry_points()
        registry.configure("openai", base_url=f"{upstream.origin()}/v1", api_key=KEY)
        with run_in_thread(create_app(registry=registry)) as gateway:
            yield gateway


async def _post(url: str, body: dict[str, Any]) -> str:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.text()


def _events(raw: str) -> list[dict[str, Any]]:
    datas = [line[len("data: ") :] for line in raw.split("\n") if line.startswith("data: ")]
    return [json.loads(data) for data in datas if data != "[DONE]"]


def _clean(text: str, redactions: int) -> None:
    assert KEY not in text
    assert KEY[:HALF] not in text  # no half of it either
    assert text.count("***") == redactions, text


async def test_chat_stream(gateway_url: str) -> None:
    raw = await _post(
        f"{gateway_url}/chat/completions",
        {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    assert KEY not in raw
    deltas = [e["choices"][0]["delta"] for e in _events(raw) if e.get("choices")]
    content = "".join(d.get("content") or "" for d in deltas)
    arguments = "".join(
        call["function"].get("arguments") or "" for d in deltas for call in d.get("tool_calls", ())
    )
    _clean(content, 3)
    assert content.startswith("your key: ***")
    assert content.endswith("last ***")
    _clean(arguments, 1)
    assert json.loads(arguments) == {"k": "***"}


async def test_completions_stream(gateway_url: str) -> None:
    raw = await _post(
        f"{gateway_url}/completions",
        {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "hi", "stream": True},
    )
    text = "".join(e["choices"][0]["text"] for e in _events(raw) if e.get("choices"))
    _clean(text, 2)
    assert text == "key *** and ***"


async def test_responses_stream_passed_through(gateway_url: str) -> None:
    raw = await _post(
        f"{gateway_url}/responses", {"model": "openai/gpt-4o", "input": "hi", "stream": True}
    )
    events = _events(raw)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    _clean(deltas, 2)
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == deltas == "key *** twice ***"
    assert KEY not in raw


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "chat/completions",
            {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("completions", {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "hi"}),
        ("responses", {"model": "openai/gpt-4o", "input": "hi"}),
    ],
)
async def test_whole_answers(gateway_url: str, path: str, body: dict[str, Any]) -> None:
    raw = await _post(f"{gateway_url}/{path}", body)
    assert KEY not in raw
    assert "***" in raw
