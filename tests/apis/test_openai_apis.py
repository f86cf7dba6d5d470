"""The openai plugin's Responses, completions and transcription over real 127.0.0.1 sockets.

The fake server below speaks the OpenAI wire (JSON bodies, SSE streams, multipart uploads
parsed by aiohttp's own multipart reader) and records what it received, so each test checks
both directions: what we send and how we decode what comes back.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from lmux_plug import AssistantMessage
from lmux_plug import AuthenticationError
from lmux_plug import ContextLengthExceededError
from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug import ToolCall
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "test-key-apis-0001"


def _sse(events: list[dict[str, Any]], *, named: bool = True, done: bool = False) -> bytes:
    out = []
    for event in events:
        head = f"event: {event['type']}\n" if named and "type" in event else ""
        out.append(f"{head}data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def _response_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "resp_abc",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-2025-08-07",
        "incomplete_details": None,
        "error": None,
        "output": [
            {
                "id": "rs_1",
                "type": "reasoning",
                "encrypted_content": "gAAAA-opaque",
                "summary": [{"type": "summary_text", "text": "thinking about it"}],
            },
            {"id": "ws_1", "type": "web_search_call", "status": "completed"},
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "text": "Paris.",
                        "annotations": [
                            {"type": "url_citation", "url": "https://example.org", "title": "x"}
                        ],
                    }
                ],
            },
            {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_42",
                "name": "lookup",
                "arguments": '{"city":"Paris"}',
                "status": "completed",
            },
        ],
        "usage": {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 40, "cache_creation_tokens": 10},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 130,
        },
    }
    payload.update(overrides)
    return payload


def _multipart(request: CapturedRequest) -> tuple[dict[str, list[str]], tuple[str, str, bytes]]:
    """The form fields and the one file of a ``multipart/form-data`` body."""
    head = f"content-type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, list[str]] = {}
    upload = ("", "", b"")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is not None:
            upload = (part.get_filename(), part.get_content_type(), data)
        else:
            fields.setdefault(name, []).append(data.decode())
    return fields, upload


class FakeOpenAI:
    """The scenario: answers the three APIs; each route's answer can be replaced per test.

    ``requests`` records what each request sent: ``path``, ``headers``, and ``json`` or the
    multipart ``form`` fields and ``file`` (name, content type, bytes).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, Callable[[CapturedRequest, Any], Reply]] = {}

    def __call__(self, request: CapturedRequest) -> Reply:
        record: dict[str, Any] = {"path": request.path, "headers": request.headers}
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            fields, record["file"] = _multipart(request)
            record["form"] = fields
            body: Any = fields
        else:
            body = request.json()
            record["json"] = body
        self.requests.append(record)
        answer = self.answers.get(request.path)
        if answer is not None:
            return answer(request, body)
        return Reply.with_json({"error": {"message": "no answer scripted"}}, status=500)

    def answer_json(self, path: str, payload: Any, **reply: Any) -> None:
        """Answer every request to ``path`` with ``payload`` as JSON (``reply``: headers ...)."""
        self.answers[path] = lambda _request, _body: Reply.with_json(payload, **reply)


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeOpenAI, Registry]]:
    fake = FakeOpenAI()
    async with WireServer(fake) as running, Registry.from_entry_points() as registry:
        registry.configure("openai", api_key=KEY, base_url=f"{running.origin()}/v1")
        yield fake, registry


# --------------------------------------------------------------------------- Responses


async def test_create_response_end_to_end(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    fake.answer_json("/v1/responses", _response_payload(), headers={"x-request-id": "req_1"})
    response = await registry.acreate_response(
        "openai/gpt-5",
        "Capital of France?",
        instructions="Answer briefly.",
        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
        store=False,
        prompt_cache_key="pk",
        extra_headers={"x-extra": "1"},
        extra_body={"service_tier": "flex"},
        timeout=30,
    )
    sent = fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["headers"]["x-extra"] == "1"
    assert sent["json"] == {
        "model": "gpt-5",
        "input": "Capital of France?",
        "instructions": "Answer briefly.",
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
        "prompt_cache_key": "pk",
        "service_tier": "flex",
    }
    assert response.id == "resp_abc"
    assert response.request_id == "req_1"
    assert response.output_text == "Paris."
    assert response.tool_calls == (
        ToolCall(id="call_42", name="lookup", arguments='{"city":"Paris"}'),
    )
    kinds = [
        type(item).__name__ if not isinstance(item, dict) else item["type"]
        for item in response.output
    ]
    assert kinds == ["reasoning", "web_search_call", "AssistantMessage", "ToolCall"]
    assert response.output[0]["encrypted_content"] == "gAAAA-opaque"
    assert response.citations == (
        {"type": "url_citation", "url": "https://example.org", "title": "x"},
    )
    assert response.reasoning == "thinking about it"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens) == (100, 30)
    assert (usage.cache_read_tokens, usage.cache_creation_tokens, usage.reasoning_tokens) == (
        40,
        10,
        12,
    )
    assert response.cost is not None  # priced from the declared gpt-5 prices
    # Stateless multi-turn: the output goes back as input, reasoning item unchanged.
    again = response.input_items
    assert again[0]["encrypted_content"] == "gAAAA-opaque"
    assert again[2] == {"role": "assistant", "content": "Paris."}
    assert again[3] == {
        "type": "function_call",
        "call_id": "call_42",
        "name": "lookup",
        "arguments": '{"city":"Paris"}',
    }


async def test_create_response_keeps_incomplete_details(
    server: tuple[FakeOpenAI, Registry],
) -> None:
    fake, registry = server
    payload = _response_payload(
        status="incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    fake.answer_json("/v1/responses", payload)
    response = await registry.acreate_response("openai/gpt-5", "x", max_output_tokens=16)
    assert fake.requests[-1]["json"]["max_output_tokens"] == 16
    assert response.status == "incomplete"
    assert response.incomplete_details == {"reason": "max_output_tokens"}


async def test_create_response_stream_end_to_end(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    final = _response_payload()
    events = [
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {**final, "status": "in_progress", "output": []},
        },
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1"},
        },
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "thinking"},
        {"type": "response.output_text.delta", "output_index": 2, "delta": "Par"},
        {"type": "response.output_text.delta", "output_index": 2, "delta": "is."},
        {
            "type": "response.output_item.added",
            "output_index": 3,
            "item": {
                "type": "function_call",
                "call_id": "call_42",
                "name": "lookup",
                "arguments": "",
            },
        },
        {"type": "response.function_call_arguments.delta", "output_index": 3, "delta": '{"city":'},
        {"type": "response.function_call_arguments.delta", "output_index": 3, "delta": '"Paris"}'},
        {"type": "response.completed", "sequence_number": 9, "response": final},
    ]

    def answer(request: CapturedRequest, body: Any) -> Reply:
        data = _sse(events)
        # Arbitrary splits across event boundaries: one write (and chunk) each.
        pieces = [data[i : i + 37] for i in range(0, len(data), 37)]
        return Reply(200, {"content-type": "text/event-stream"}, pieces, stream=True)

    fake.answers["/v1/responses"] = answer
    chunks = [c async for c in registry.acreate_response_stream("openai/gpt-5", "Capital?")]
    assert fake.requests[-1]["json"]["stream"] is True
    assert [c.type for c in chunks] == [e["type"] for e in events]
    assert "".join(c.delta for c in chunks) == "Paris."
    assert "".join(c.reasoning_delta for c in chunks) == "thinking"
    deltas = [c.tool_call_delta for c in chunks if c.tool_call_delta is not None]
    assert deltas[0].id == "call_42"
    assert "".join(d.arguments for d in deltas) == '{"city":"Paris"}'
    last = chunks[-1]
    assert last.response is not None
    assert last.response.output_text == "Paris."
    assert last.usage == last.response.usage
    assert last.cost is not None


@pytest.mark.parametrize(
    ("events", "error"),
    [
        (
            [
                {"type": "response.created", "response": {}},
                {
                    "type": "error",
                    "error": {
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                        "message": "You exceeded your current quota",
                    },
                },
            ],
            RateLimitError,
        ),
        (
            [
                {
                    "type": "response.failed",
                    "response": {
                        "id": "r",
                        "status": "failed",
                        "error": {"code": "server_error", "message": "boom"},
                    },
                }
            ],
            ProviderError,
        ),
        (
            [
                {"type": "response.created", "response": {}},
                {"type": "response.output_text.delta", "delta": "cut"},
            ],
            ProviderError,
        ),
    ],
)
async def test_response_stream_errors_raise(
    server: tuple[FakeOpenAI, Registry], events: list[dict[str, Any]], error: type[Exception]
) -> None:
    fake, registry = server
    fake.answers["/v1/responses"] = lambda r, b: Reply.with_body(
        _sse(events, named=False), "text/event-stream"
    )
    with pytest.raises(error):
        [c async for c in registry.acreate_response_stream("openai/gpt-5", "x")]


async def test_response_http_errors_map_to_classes_and_hide_the_key(
    server: tuple[FakeOpenAI, Registry],
) -> None:
    fake, registry = server
    fake.answer_json(
        "/v1/responses",
        {
            "error": {
                "message": f"Incorrect API key provided: {KEY}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        status=401,
    )
    with pytest.raises(AuthenticationError) as info:
        await registry.acreate_response("openai/gpt-5", "x")
    assert KEY not in str(info.value)
    fake.answer_json(
        "/v1/responses",
        {
            "error": {
                "message": "Your input exceeds the context window of this model.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
        status=400,
    )
    with pytest.raises(ContextLengthExceededError):
        await registry.acreate_response("openai/gpt-5", "x")


async def test_xai_serves_responses(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    fake.answer_json("/v1/responses", _response_payload())
    openai_url = registry._routes["openai"].base_url
    assert openai_url is not None
    registry.configure("xai", api_key=KEY, base_url=openai_url)
    response = await registry.acreate_response("xai/grok-4", "x")
    assert response.provider == "xai"
    assert fake.requests[-1]["json"]["model"] == "grok-4"


# --------------------------------------------------------------------------- completions


async def test_complete_end_to_end(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    fake.answer_json(
        "/v1/completions",
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": "gpt-3.5-turbo-instruct",
            "choices": [
                {"text": " upon a time", "index": 0, "finish_reason": "length", "logprobs": None}
            ],
            "usage": {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6},
        },
    )
    response = await registry.acomplete(
        "openai/gpt-3.5-turbo-instruct", "Once", max_tokens=4, stop=["\n"], temperature=0
    )
    assert fake.requests[-1]["json"] == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Once",
        "max_tokens": 4,
        "temperature": 0,
        "stop": ["\n"],
    }
    assert response.text == " upon a time"
    assert response.finish_reason is FinishReason.LENGTH
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 4)
    assert response.cost is not None
    assert (
        response.cost.total
        == Decimal(2) * Decimal("1.50") / 10**6 + Decimal(4) * Decimal("2.00") / 10**6
    )


async def test_complete_stream_one_terminal_with_usage(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    events = [
        {"id": "c1", "choices": [{"text": "Hel", "index": 0, "finish_reason": None}]},
        {"id": "c1", "choices": [{"text": "lo", "index": 0, "finish_reason": "eos"}]},
        # A trailing chunk repeating the finish reason, then usage: still one terminal.
        {
            "id": "c1",
            "choices": [{"text": "", "index": 0, "finish_reason": "eos"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        },
    ]
    fake.answers["/v1/completions"] = lambda r, b: Reply.with_body(
        _sse(events, named=False, done=True), "text/event-stream"
    )
    chunks = [c async for c in registry.acomplete_stream("openai/gpt-3.5-turbo-instruct", "x")]
    assert fake.requests[-1]["json"]["stream_options"] == {"include_usage": True}
    assert "".join(c.delta for c in chunks) == "Hello"
    terminals = [c for c in chunks if c.finish_reason is not None]
    assert len(terminals) == 1
    assert terminals[0].finish_reason is FinishReason.STOP
    assert terminals[0].usage is not None
    assert terminals[0].usage.output_tokens == 2
    assert terminals[0].cost is not None


# --------------------------------------------------------------------------- transcription


async def _transcribe(
    server: tuple[FakeOpenAI, Registry],
    answer: dict[str, Any],
    model: str,
    audio: bytes,
    **params: Any,
) -> Any:
    """Transcribe ``audio`` with ``model`` while the fake server answers with ``answer``."""
    fake, registry = server
    fake.answer_json("/v1/audio/transcriptions", answer)
    return await registry.atranscribe(model, audio, **params)


async def test_transcribe_uploads_multipart_and_prices_minutes(
    server: tuple[FakeOpenAI, Registry],
) -> None:
    audio = b"RIFF\x00\x01binary\r\n--not-a-boundary\r\n\xff"
    response = await _transcribe(
        server,
        {
            "task": "transcribe",
            "language": "english",
            "duration": 120.0,
            "text": "Hello there.",
            "segments": [{"id": 0, "start": 0.0, "end": 1.5, "text": "Hello there."}],
            "usage": {"type": "duration", "seconds": 120},
        },
        "openai/whisper-1",
        audio,
        filename='we"ird name.wav',
        language="en",
        prompt="Hello",
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    sent = server[0].requests[-1]
    assert sent["file"] == ('we"ird name.wav', "audio/x-wav", audio)
    assert sent["form"]["model"] == ["whisper-1"]
    assert sent["form"]["language"] == ["en"]
    assert sent["form"]["response_format"] == ["verbose_json"]
    assert sent["form"]["timestamp_granularities[]"] == ["segment", "word"]
    assert response.text == "Hello there."
    assert response.language == "english"
    assert response.duration == 120.0
    assert response.segments[0].end == 1.5
    assert response.cost is not None
    assert response.cost.total == Decimal("0.012")  # two minutes at $0.006


async def test_transcribe_diarized_segments_keep_speakers(
    server: tuple[FakeOpenAI, Registry],
) -> None:
    response = await _transcribe(
        server,
        {
            "text": "Hi. Hello.",
            "duration": 4.2,
            "segments": [
                {
                    "type": "transcript.text.segment",
                    "id": "seg_0",
                    "start": 0.0,
                    "end": 1.0,
                    "text": "Hi.",
                    "speaker": "A",
                },
                {
                    "type": "transcript.text.segment",
                    "id": "seg_1",
                    "start": 1.2,
                    "end": 2.0,
                    "text": "Hello.",
                    "speaker": "B",
                },
            ],
            "usage": {"type": "tokens", "input_tokens": 50, "output_tokens": 4, "total_tokens": 54},
        },
        "openai/gpt-4o-transcribe-diarize",
        b"audio",
        response_format="diarized_json",
    )
    assert [(s.speaker, s.text) for s in response.segments] == [("A", "Hi."), ("B", "Hello.")]
    assert response.usage.input_tokens == 50


async def test_transcribe_text_format_and_groq(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    fake.answers["/v1/audio/transcriptions"] = lambda r, b: Reply.with_body(
        "plain words\n", "text/plain"
    )
    response = await registry.atranscribe("openai/whisper-1", b"a", response_format="text")
    assert response.text == "plain words\n"
    openai_url = registry._routes["openai"].base_url
    registry.configure("groq", api_key=KEY, base_url=openai_url)
    answer = {"text": "hola", "language": "Spanish", "duration": 30, "x_groq": {"id": "req_x"}}
    groq = await _transcribe(server, answer, "groq/whisper-large-v3", b"a")
    assert groq.language == "Spanish"
    assert groq.cost is not None
    assert groq.cost.total == Decimal("0.000925")


async def test_transcribe_stream(server: tuple[FakeOpenAI, Registry]) -> None:
    fake, registry = server
    events = [
        {"type": "transcript.text.delta", "delta": "Hel"},
        {"type": "transcript.text.delta", "delta": "lo"},
        {
            "type": "transcript.text.done",
            "text": "Hello",
            "usage": {"type": "tokens", "input_tokens": 9, "output_tokens": 2},
        },
    ]
    fake.answers["/v1/audio/transcriptions"] = lambda r, b: Reply.with_body(
        _sse(events, named=False), "text/event-stream"
    )
    chunks = [c async for c in registry.atranscribe_stream("openai/gpt-4o-transcribe", b"a")]
    assert fake.requests[-1]["form"]["stream"] == ["true"]
    assert "".join(c.delta for c in chunks) == "Hello"
    assert chunks[-1].response is not None
    assert chunks[-1].response.text == "Hello"
    assert chunks[-1].response.usage.output_tokens == 2
    assert chunks[-1].cost is not None


def test_output_message_items_are_typed() -> None:
    from lmux_plug_openai._responses_codec import decode_response

    response = decode_response(
        json.dumps(_response_payload()).encode(), {}, provider="openai", model="gpt-5"
    )
    assert response.output[2] == AssistantMessage(content="Paris.")


@pytest.mark.parametrize("error", ["boom", {"message": "boom", "type": "server_error"}])
def test_an_error_body_answered_with_200_is_an_error_not_a_response(error: object) -> None:
    from lmux_plug_openai._responses_codec import decode_response

    with pytest.raises(LmuxError, match="boom"):
        decode_response(json.dumps({"error": error}).encode(), {}, provider="openai", model="m")
