"""Wire formats for the fake server: canonical answers, errors and faults, rendered.

A :class:`WireFormat` renders, in one provider's real wire format, what the
:class:`~lmux_plug.testing.wire_server.WireServer` sends: a chat answer, a streamed answer
(as separate event frames, so a test can split and truncate them), a streamed tool call,
embeddings, an HTTP error body and an error event inside a stream. :class:`OpenAIWire`
(Chat Completions, and every OpenAI-compatible endpoint) lives here because the fake
OpenAI server renders with it; the contract suite (``lmux_plug_contract.wires``) adds the
other providers' formats.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import attrs

from lmux_plug import FinishReason
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import Usage
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply

__all__ = [
    "EVERY_TOOL_CHOICE",
    "OpenAIWire",
    "Pieces",
    "StreamRendering",
    "Thoughts",
    "ToolUse",
    "WireFormat",
    "edit_json",
    "halves",
    "inline_data",
    "json_bytes",
    "last_user",
    "openai_tool_call",
    "unknown_tool_choice",
]


#: The argument pieces of several tool calls, one sequence per call (``tool_calls_stream``).
Pieces = Sequence[Sequence[str]]
#: The reasoning blocks an answer opens with (``thinking_chat``, ``thinking_stream``).
Thoughts = Sequence[ThinkingBlock]


#: Every tool choice a caller can pass; a wire whose API takes them all declares it as its
#: ``tool_choices`` (``requests.tool_choice`` then fails a plugin that refuses one as invalid).
EVERY_TOOL_CHOICE = ("default", "auto", "none", "required", "function")


def json_bytes(value: Any) -> bytes:
    """Compact JSON in raw UTF-8 (no escaped non-ASCII characters), as providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def edit_json(reply: Reply, change: Callable[[Any], object]) -> Reply:
    """``reply`` with its JSON body edited in place by ``change`` (status and headers kept).

    How a wire renders a variant of an answer it already renders (reasoning before the
    text, a cut-off call) without writing the whole answer again.
    """
    body = json.loads(b"".join(reply.chunks))
    change(body)
    return Reply(reply.status, reply.headers, (json_bytes(body),))


@attrs.frozen
class StreamRendering:
    """A streamed answer as separate frames; the last ``terminal`` frames end it properly.

    Dropping the last ``terminal`` frames gives a stream that ends cleanly at a frame
    boundary but without its terminal event (a truncated stream).
    """

    content_type: str
    frames: tuple[bytes, ...]
    terminal: int = 1


@attrs.frozen
class ToolUse:
    """What a chat request lets the model do with tools, as the real API reads the body.

    ``callable`` names the tools the model may call (empty: no call is possible, whether
    the body says "none" or offers no tools); ``forced``: it must call one of them.
    """

    forced: bool
    callable: frozenset[str]


def unknown_tool_choice(value: Any) -> ValueError:
    """The error a wire's :meth:`WireFormat.tool_use` raises for a choice its API refuses."""
    return ValueError(f"the body's tool choice {value!r:.200} is not one the API accepts")


class WireFormat:
    """Renders canonical answers in one provider wire format (subclass per wire).

    Every method receives the captured request, so a format can answer by path (Ollama's
    ``/api/embed`` vs ``/api/embeddings``) or echo the model it was asked for.
    """

    name = "base"
    #: Whether the format reports token usage for embeddings.
    embed_usage = True
    #: Whether usage arrives on (or after) the terminal stream event.
    stream_usage = True
    #: Whether the wire has an embeddings endpoint at all.
    embeddings = True
    #: The finish reason a tool-call answer of this wire means (``tool_calls``, ``tool_use``
    #: ...); None when the wire does not say (``STOP`` or ``TOOL_CALLS`` then both pass).
    tool_finish: FinishReason | None = None
    #: Whether reasoning blocks carry a signature on this wire (Anthropic, Gemini): a plugin
    #: must then keep it. Without signatures none is expected (``reasoning.thinking``).
    signs_thinking = True
    #: Whether an assistant turn's reasoning can be sent back in a request on this wire
    #: (``requests.conversation``); where it cannot, a plugin drops it.
    returns_thinking = True

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A complete chat answer."""
        raise NotImplementedError

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer, one frame per piece plus its framing."""
        raise NotImplementedError

    def tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A complete (non-streamed) answer that calls ``call``.

        Optional for custom wires: without it the non-streamed tool-call clause is skipped.
        Default: :meth:`tool_calls_chat` with this one call.
        """
        return self.tool_calls_chat(request, (call,), usage)

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed tool call, its arguments in ``fragments`` where the wire splits them.

        Default: :meth:`tool_calls_stream` with this one call.
        """
        return self.tool_calls_stream(request, (call,), (fragments,), usage)

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """A complete answer that calls every one of ``calls``, in order.

        Optional for custom wires: without it ``tools.several_calls`` skips the chat path.
        """
        raise NotImplementedError

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """A streamed answer calling every one of ``calls``, in order.

        ``fragments[i]`` are call i's arguments where the wire splits them. Optional for
        custom wires: without it ``tools.several_calls`` skips the stream path.
        """
        raise NotImplementedError

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """Embedding vectors for the inputs of ``request``."""
        raise NotImplementedError

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """An HTTP error answer in the provider's error-body format."""
        raise NotImplementedError

    def stream_error(self, message: str) -> bytes:
        """An error event inside a stream (provider overloaded mid-answer)."""
        raise NotImplementedError

    def stream_error_for(self, status: int, message: str) -> bytes:
        """An error event inside a stream that the provider sends for HTTP ``status``.

        The suite expects the error class ``status`` maps to (429: RateLimitError) when a
        wire renders it; the default, :meth:`stream_error`, carries no class, so only
        ProviderError and the message are expected then.
        """
        raise NotImplementedError

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """The texts an embeddings request asks for, in order (to synthesise vectors)."""
        raise NotImplementedError

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """What the chat request body lets the model do with tools (``requests.tool_choice``).

        Read the body as the real API does: the tools offered and the tool choice (with its
        default when absent). Raise ``ValueError`` (:func:`unknown_tool_choice`) for a
        choice the API would refuse. Optional for custom wires: without it the clause is
        skipped.
        """
        raise NotImplementedError

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The parts of the chat request's last user turn, as the API reads them, in order.

        Each is ``(kind, value)``: ``("text", text)``, ``("image", url)`` for a linked image,
        ``("image", base64)``, ``("file", base64)``, ``("file", "id:" + file_id)`` or
        ``("audio", base64)`` for data sent inline (the base64 payload alone, without
        ``data:`` prefix or media type). Optional for custom wires: without it
        ``requests.content_parts`` is skipped.
        """
        raise NotImplementedError

    def replace_event_json(self, frame: bytes, payload: bytes) -> bytes:
        """``frame`` (one stream event) carrying the JSON ``payload`` instead of its own.

        Default: the JSON object in the frame (from its first ``{`` to its last ``}``) is
        swapped, the framing kept. A binary framing with checksums re-frames the payload.
        """
        start, end = frame.find(b"{"), frame.rfind(b"}")
        if start < 0 or end < start:
            msg = f"the frame holds no JSON object: {frame[:80]!r}"
            raise LookupError(msg)
        return frame[:start] + payload + frame[end + 1 :]

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """Whether ``request`` asks for a streamed answer, as the real API reads it.

        The server then streams a canonical chat answer as the real API would, so a plugin
        that asks for a stream on a non-streamed call (or the reverse) is caught. Default:
        a ``"stream": true`` member of the JSON body.
        """
        body = request.json()
        return isinstance(body, dict) and body.get("stream") is True

    def reply_stream(self, rendering: StreamRendering, *, drop_terminal: bool = False) -> Reply:
        """A :class:`Reply` that streams ``rendering`` (optionally without its ending)."""
        frames = rendering.frames[: -rendering.terminal] if drop_terminal else rendering.frames
        return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)


_CREATED = 1_700_000_000
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def halves(text: str) -> tuple[str, str]:
    """``text`` in two pieces (a streamed value arriving in more than one delta)."""
    return text[: len(text) // 2], text[len(text) // 2 :]


def last_user(request: CapturedRequest) -> Mapping[str, Any]:
    """The last ``role: user`` item of the request body's ``messages`` (empty if none)."""
    messages = (request.json() or {}).get("messages") or ()
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return users[-1] if users else {}


def inline_data(url: str) -> str:
    """The base64 payload of a ``data:`` URL, or ``url`` itself (a link)."""
    return url.split(";base64,", 1)[1] if url.startswith("data:") and ";base64," in url else url


def openai_tool_call(call: ToolCall, arguments: str | None = None) -> dict[str, Any]:
    """``call`` as Chat Completions writes a tool call (and Cohere v2, which took its shape).

    ``arguments`` (the JSON text) defaults to the call's; a stream opens a call with ``""``.
    """
    arguments = call.arguments if arguments is None else arguments
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _openai_part(part: Mapping[str, Any]) -> tuple[str, str]:
    kind = part.get("type")
    if kind == "text":
        return "text", str(part.get("text"))
    if kind == "image_url":
        return "image", inline_data(str((part.get("image_url") or {}).get("url")))
    if kind == "input_audio":
        return "audio", str((part.get("input_audio") or {}).get("data"))
    if kind == "file":
        file = part.get("file") or {}
        if file.get("file_id"):
            return "file", f"id:{file['file_id']}"
        return "file", inline_data(str(file.get("file_data")))
    return str(kind), json.dumps(part)[:200]


def _base64_vector(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _sse(payload: Any) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


class OpenAIWire(WireFormat):
    """``POST /chat/completions`` and ``/embeddings``; SSE with ``data: [DONE]``."""

    name = "openai"
    tool_finish = FinishReason.TOOL_CALLS
    # Chat Completions has no reasoning blocks (compatible servers' reasoning is unsigned).
    signs_thinking = False
    returns_thinking = False

    def _chunk(self, model: str, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": "chatcmpl-contract",
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
            }
        )

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        usage_chunk = _sse(
            {
                "id": "chatcmpl-contract",
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [],
                "usage": _usage(usage),
            }
        )
        return (self._chunk(model, {}, finish), usage_chunk, b"data: [DONE]\n\n")

    @staticmethod
    def _completion(
        request: CapturedRequest, message: dict[str, Any], finish: str, usage: Usage
    ) -> bytes:
        """A ``chat.completion`` body with one choice holding ``message``."""
        return json_bytes(
            {
                "id": "chatcmpl-contract",
                "object": "chat.completion",
                "created": _CREATED,
                "model": request.model_hint,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": _usage(usage),
            }
        )

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A ``chat.completion`` object."""
        message = {"role": "assistant", "content": text, "refusal": None}
        return Reply(
            200,
            {"content-type": "application/json", "x-request-id": "req_contract"},
            (self._completion(request, message, "stop", usage),),
        )

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """A ``chat.completion`` whose message holds ``tool_calls`` (finish ``tool_calls``)."""
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [openai_tool_call(call) for call in calls],
            "refusal": None,
        }
        body = self._completion(request, message, "tool_calls", usage)
        return Reply(200, {"content-type": "application/json"}, (body,))

    def stream(
        self,
        request: CapturedRequest,
        pieces: Sequence[str],
        usage: Usage,
        *,
        include_usage: bool = True,
    ) -> StreamRendering:
        """Role chunk, one chunk per piece, the finish chunk, the usage chunk, ``[DONE]``.

        ``include_usage=False`` leaves the usage chunk out, as the real API does unless the
        request sets ``stream_options.include_usage``.
        """
        model = request.model_hint
        frames = [self._chunk(model, {"role": "assistant", "content": ""})]
        frames.extend(self._chunk(model, {"content": piece}) for piece in pieces)
        ending = self._ending(model, "stop", usage)
        if not include_usage:
            ending = (ending[0], ending[-1])
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """Tool calls one after the other, each ``index`` opened by its id and name.

        Each call's ``arguments`` follow in several deltas; the role comes with the first.
        """
        model = request.model_hint
        frames = []
        for index, (call, parts) in enumerate(zip(calls, fragments, strict=True)):
            opening = {"index": index, **openai_tool_call(call, "")}
            first = {"role": "assistant", "content": None} if index == 0 else {}
            frames.append(self._chunk(model, {**first, "tool_calls": [opening]}))
            frames.extend(
                self._chunk(
                    model, {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                )
                for part in parts
            )
        ending = self._ending(model, "tool_calls", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``tools[].function.name``; ``tool_choice`` a mode or ``{"type": "function"}``."""
        body = request.json() or {}
        names = frozenset(
            str(t["function"].get("name"))
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        )
        choice = body.get("tool_choice", "auto")
        if choice in ("auto", "none", "required") and (names or choice != "required"):
            return ToolUse(
                forced=choice == "required", callable=frozenset() if choice == "none" else names
            )
        if isinstance(choice, dict) and choice.get("type") == "function":
            function = choice.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if name in names:
                return ToolUse(forced=True, callable=frozenset({str(name)}))
        raise unknown_tool_choice(choice)

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user message's ``content``: text, ``image_url``, ``file``, ``input_audio``."""
        content = last_user(request).get("content")
        if isinstance(content, str):
            return [("text", content)]
        return [_openai_part(part) for part in content or ()]

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``input`` is a string or a list of strings."""
        body = request.json() or {}
        inputs = body.get("input", [])
        return [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """A list of ``embedding`` objects with their ``index``.

        With ``"encoding_format": "base64"`` each vector is base64 of little-endian float32,
        as the real API sends it.
        """
        asked = (request.json() or {}).get("encoding_format")
        encode = _base64_vector if asked == "base64" else list
        body = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(v)}
                for i, v in enumerate(vectors)
            ],
            "model": request.model_hint,
            "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
        }
        return Reply(200, {"content-type": "application/json"}, (json_bytes(body),))

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"error": {"message", "type", "param", "code"}}``."""
        kind, code = _ERROR_TYPES.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        all_headers = {
            "content-type": "application/json",
            "x-request-id": "req_contract_error",
            **(headers or {}),
        }
        return Reply(status, all_headers, (json_bytes(body),))

    def stream_error(self, message: str) -> bytes:
        """An error object in a ``data:`` frame (OpenRouter, Groq and OpenAI proxies send this)."""
        return _sse({"error": {"message": message, "type": "server_error", "code": 502}})

    def stream_error_for(self, status: int, message: str) -> bytes:
        """The error object of an HTTP ``status`` answer, in a ``data:`` frame.

        Without a code of its own the object carries the status as a number in ``code``, as
        OpenRouter relays an upstream failure mid-stream.
        """
        kind, code = _ERROR_TYPES.get(status, ("server_error", None))
        error = {"message": message, "type": kind, "param": None, "code": code or status}
        return _sse({"error": error})
