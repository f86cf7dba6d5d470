"""Amazon Bedrock wire: Converse (JSON), ConverseStream (AWS event-stream), InvokeModel embeddings.

:func:`event_frame` writes one AWS event-stream message (prelude with lengths and CRC32,
string headers, payload, message CRC32): the framing Bedrock streams in, which botocore's
``EventStreamBuffer`` reads. CRC32 is a checksum, not cryptography.
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from lmux_plug import FinishReason
from lmux_plug import ToolCall
from lmux_plug import Usage

from lmux_plug_contract.wires._base import EVERY_TOOL_CHOICE
from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Pieces
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import ToolUse
from lmux_plug_contract.wires._base import WireFormat
from lmux_plug_contract.wires._base import edit_json
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires._base import unknown_tool_choice
from lmux_plug_contract.wires._common import enabled_budget
from lmux_plug_contract.wires._said import Said
from lmux_plug_contract.wires._said import keyed_part
from lmux_plug_contract.wires.anthropic import MIN_THINKING_BUDGET
from lmux_plug_contract.wires.anthropic import thinking_refusal

__all__ = ["BedrockWire", "event_frame", "exception_frame"]

_JSON = {"content-type": "application/json", "x-amzn-requestid": "contract-bedrock-request"}
_STREAM = "application/vnd.amazon.eventstream"
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    409: "ConflictException",
    413: "ValidationException",
    422: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STRING = 7  # event-stream header value type: UTF-8 string
#: ConverseStream's in-stream exceptions by the HTTP status the API documents for each.
_STREAM_EXCEPTIONS = {
    400: "validationException",
    429: "throttlingException",
    424: "modelStreamErrorException",
    500: "internalServerException",
    503: "serviceUnavailableException",
}


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", _STRING, len(raw_value))
        + raw_value
    )


def event_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message with string ``headers`` and ``payload``."""
    return _framed(b"".join(_header(k, v) for k, v in headers.items()), payload)


def _framed(encoded: bytes, payload: bytes) -> bytes:
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def _event(name: str, payload: Mapping[str, Any]) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json_bytes(payload))


def exception_frame(kind: str, message: str) -> bytes:
    """An ``exception`` message, as ConverseStream sends a mid-stream failure."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return event_frame(headers, json_bytes({"message": message}))


def _usage(usage: Usage) -> dict[str, int]:
    # Converse's inputTokens leaves out the prompt tokens read from or written to the cache,
    # which it reports apart (totalTokens counts them all).
    cached = usage.cache_read_tokens + usage.cache_creation_tokens
    counts = {
        "inputTokens": usage.input_tokens - cached,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_tokens,
    }
    if usage.cache_read_tokens:
        counts["cacheReadInputTokens"] = usage.cache_read_tokens
    if usage.cache_creation_tokens:
        counts["cacheWriteInputTokens"] = usage.cache_creation_tokens
    return counts


def _ending(reason: str, usage: Usage) -> tuple[bytes, bytes]:
    return (
        _event("messageStop", {"stopReason": reason}),
        _event("metadata", {"usage": _usage(usage), "metrics": {"latencyMs": 42}}),
    )


def _ended(rendering: StreamRendering, reason: str, usage: Usage) -> StreamRendering:
    """``rendering`` (a stream ending in messageStop and metadata) ended by ``reason``."""
    return StreamRendering(_STREAM, (*rendering.frames[:-2], *_ending(reason, usage)), terminal=2)


def _result_said(role: str, result: Mapping[str, Any]) -> Said:
    """A ``toolResult``: text or JSON content blocks; ``status: error`` marks a failure."""
    texts = [
        b["text"] if "text" in b else json.dumps(b.get("json"), sort_keys=True)
        for b in result.get("content") or ()
        if isinstance(b, dict)
    ]
    error = result.get("status") == "error"
    return Said(role, "result", "".join(texts), ref=result.get("toolUseId"), error=error)


def _block_said(role: str, block: Any) -> Said:
    """One Converse content block as the API reads it."""
    if not isinstance(block, dict):
        return Said(role, "other", repr(block))
    if "text" in block:
        return Said(role, "text", str(block["text"]))
    if "toolUse" in block:
        use = block["toolUse"]
        return Said.call(role, use.get("name"), use.get("input"), ref=use.get("toolUseId"))
    if "toolResult" in block:
        return _result_said(role, block["toolResult"])
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict) and "redactedContent" in reasoning:
        return Said(role, "redacted", str(reasoning["redactedContent"]))
    if isinstance(reasoning, dict) and isinstance(reasoning.get("reasoningText"), dict):
        signed = reasoning["reasoningText"]
        return Said(role, "thinking", str(signed.get("text")), signature=signed.get("signature"))
    return Said(role, "other", ",".join(sorted(block)))


def _media_part(block: dict[str, Any]) -> tuple[str, str] | None:
    """A Converse ``image`` or ``document`` block sent as bytes (an image also from S3)."""
    for key, kind in (("image", "image"), ("document", "file")):
        source = (block.get(key) or {}).get("source") if isinstance(block.get(key), dict) else None
        if isinstance(source, dict) and "bytes" in source:
            return (kind, str(source["bytes"]))
        if key == "image" and isinstance(source, dict) and "s3Location" in source:
            return _s3_image(block["image"], source["s3Location"])
    return None


def _s3_image(image: dict[str, Any], location: Any) -> tuple[str, str]:
    """An image read from S3: decoded as its ``format`` says, which must be the object's."""
    uri = str(location.get("uri")) if isinstance(location, dict) else repr(location)
    extension = uri.rsplit("/", 1)[-1].rpartition(".")[2].lower().replace("jpg", "jpeg")
    if image.get("format") != extension:
        return ("other", f"image format {image.get('format')!r} for {uri}")
    return ("image", uri)


#: What a model answers to a JSON request whose body does not ask for JSON.
_PROSE = "It is sunny in Paris, 21 degrees."


def _json_text(request: CapturedRequest, document: Any) -> str:
    # Structured output is asked for in outputConfig.textFormat; without it: prose.
    body = request.json() or {}
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    asked = text_format.get("type") == "json_schema"
    return json.dumps(document, ensure_ascii=False) if asked else _PROSE


def _reasoning_blocks(thinking: Thoughts) -> list[dict[str, Any]]:
    return [
        {"reasoningContent": {"redactedContent": b.text}}
        if b.redacted
        else {"reasoningContent": {"reasoningText": {"text": b.text, "signature": b.signature}}}
        for b in thinking
    ]


class BedrockWire(WireFormat):
    """Converse / ConverseStream; embeddings through InvokeModel (Titan or Cohere bodies)."""

    name = "bedrock"
    tool_finish = FinishReason.TOOL_CALLS
    #: Every tool choice the API takes (``requests.tool_choice`` fails one refused as invalid).
    tool_choices = EVERY_TOOL_CHOICE
    #: Tool results carry an error flag; answers may hold redacted reasoning.
    marks_tool_errors = True
    #: ``requests.nested_extra``: sampling parameters live in ``inferenceConfig``; a caller
    #: sets ``topP`` there through ``extra_body``.
    parameters_object = ("inferenceConfig", {"topP": 0.9})
    #: ``requests.linked_image``: Converse reads linked images from S3 (never https).
    image_link = "s3://contract-bucket/photos/Cat.Photo.jpg"
    #: ``errors.context_length``: Converse's ValidationException for a prompt too long.
    context_overflow_message = "Input is too long for requested model."
    redacts_thinking = True
    #: ``types.request_id``: the ``x-amzn-requestid`` header of a Converse answer.
    answer_id = "contract-bedrock-request"
    #: ``requests.schema_description``: ``outputConfig...jsonSchema.description``.
    json_schema_description = True
    #: ``types.cached_usage``: ``cacheReadInputTokens`` and ``cacheWriteInputTokens``.
    cache_usage = ("read", "write")

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """An ``output.message`` with one text block, ``stopReason`` and ``usage``."""
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": _usage(usage),
            "metrics": {"latencyMs": 42},
        }
        return Reply(200, _JSON, (json_bytes(body),))

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """``messageStart``, a ``contentBlockDelta`` per piece, ``messageStop``, ``metadata``."""
        frames = [_event("messageStart", {"role": "assistant"})]
        frames.extend(
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
            for piece in pieces
        )
        frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
        return StreamRendering(_STREAM, (*frames, *_ending("end_turn", usage)), terminal=2)

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """``contentBlockStart`` with the ``toolUse`` id and name, input as JSON fragments."""
        start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
        frames = [
            _event("messageStart", {"role": "assistant"}),
            _event("contentBlockStart", {"contentBlockIndex": 0, "start": start}),
        ]
        frames.extend(
            _event(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": f}}}
            )
            for f in fragments
        )
        frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
        return StreamRendering(_STREAM, (*frames, *_ending("tool_use", usage)), terminal=2)

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``toolConfig.tools[].toolSpec.name``; ``toolChoice`` auto (default), any or tool.

        Converse has no "none": a request forbids calls by offering no tools.
        """
        body = request.json() or {}
        config = body.get("toolConfig") or {}
        names = frozenset(
            str(t["toolSpec"].get("name"))
            for t in config.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)
        )
        choice = config.get("toolChoice", {"auto": {}})
        kinds = list(choice) if isinstance(choice, dict) else []
        if kinds == ["auto"] or (kinds == ["any"] and names):
            return ToolUse(forced=kinds == ["any"], callable=names)
        tool = choice.get("tool") if kinds == ["tool"] else None
        if isinstance(tool, dict) and tool.get("name") in names:
            return ToolUse(forced=True, callable=frozenset({str(tool["name"])}))
        raise unknown_tool_choice(choice)

    def strict_tools(self, request: CapturedRequest) -> frozenset[str]:
        """The tools Converse holds to their schema: ``toolSpec.strict`` is ``true``."""
        config = (request.json() or {}).get("toolConfig") or {}
        return frozenset(
            str(t["toolSpec"].get("name"))
            for t in config.get("tools") or ()
            if isinstance(t, dict)
            and isinstance(t.get("toolSpec"), dict)
            and t["toolSpec"].get("strict") is True
        )

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user message's content blocks: ``text``, ``image`` and ``document`` bytes."""
        body = request.json() or {}
        users = [m for m in body.get("messages") or () if m.get("role") == "user"]
        blocks = users[-1].get("content") if users else ()
        return [keyed_part(b, _media_part) for b in blocks or () if "cachePoint" not in b]

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``system`` text blocks, then each message's content blocks in order."""
        body = request.json() or {}
        said = [
            Said("system", "text", str(b["text"])) for b in body.get("system") or () if "text" in b
        ]
        for message in body.get("messages") or ():
            role = str(message.get("role"))
            said.extend(_block_said(role, block) for block in message.get("content") or ())
        return said

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """``reasoningContent`` blocks (signed text, or redacted bytes) before the text block."""

        def add_reasoning(body: Any) -> None:
            message = body["output"]["message"]
            message["content"] = [*_reasoning_blocks(thinking), *message["content"]]

        return edit_json(self.chat(request, text, usage), add_reasoning)

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A content block per reasoning block (text then signature deltas), then the text."""
        frames = [_event("messageStart", {"role": "assistant"})]
        for index, block in enumerate(thinking):
            deltas = (
                [{"redactedContent": block.text}]
                if block.redacted
                else [{"text": block.text}, {"signature": block.signature}]
            )
            frames.extend(
                _event(
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"reasoningContent": d}},
                )
                for d in deltas
            )
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        last = len(thinking)
        frames.extend(
            _event("contentBlockDelta", {"contentBlockIndex": last, "delta": {"text": piece}})
            for piece in pieces
        )
        frames.append(_event("contentBlockStop", {"contentBlockIndex": last}))
        return StreamRendering(_STREAM, (*frames, *_ending("end_turn", usage)), terminal=2)

    def json_chat(self, request: CapturedRequest, document: Any, usage: Usage) -> Reply:
        """JSON as the text when ``outputConfig.textFormat`` asks for a JSON schema, else prose."""
        return self.chat(request, _json_text(request, document), usage)

    def json_stream(
        self, request: CapturedRequest, document: Any, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The JSON in ``pieces`` when the body asks for it, else prose."""
        asked = _json_text(request, document) != _PROSE
        return self.stream(request, pieces if asked else (_PROSE,), usage)

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """An ``output.message`` with one ``toolUse`` block per call."""
        content = [
            {"toolUse": {"toolUseId": c.id, "name": c.name, "input": json.loads(c.arguments)}}
            for c in calls
        ]
        body = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "tool_use",
            "usage": _usage(usage),
            "metrics": {"latencyMs": 42},
        }
        return Reply(200, _JSON, (json_bytes(body),))

    def ended_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A ``toolUse`` answer whose ``stopReason`` says ``end_turn``, not ``tool_use``.

        Some models behind Converse end a turn that calls a tool so (agent SDKs promote it
        to ``tool_use``): the call is whole, and the caller must run it.
        """
        reply = self.tool_calls_chat(request, (call,), usage)
        body = json.loads(b"".join(reply.chunks))
        body["stopReason"] = "end_turn"
        return Reply(reply.status, reply.headers, (json_bytes(body),))

    def ended_tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed ``toolUse`` whose ``messageStop`` says ``end_turn``."""
        rendering = self.tool_calls_stream(request, (call,), (fragments,), usage)
        return _ended(rendering, "end_turn", usage)

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer the output limit ended (``types.length_finish``): ``max_tokens``."""

        def cut(body: Any) -> None:
            body["stopReason"] = "max_tokens"

        return edit_json(self.chat(request, text, usage), cut)

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer whose ``messageStop`` says ``max_tokens``."""
        return _ended(self.stream(request, pieces, usage), "max_tokens", usage)

    def cut_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A ``toolUse`` the output limit cut (``stopReason: max_tokens``, no input yet)."""
        body = {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": {}}}
                    ],
                }
            },
            "stopReason": "max_tokens",
            "usage": _usage(usage),
            "metrics": {"latencyMs": 42},
        }
        return Reply(200, _JSON, (json_bytes(body),))

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """A ``toolUse`` content block per call, its input as JSON fragments."""
        frames = [_event("messageStart", {"role": "assistant"})]
        for index, (call, parts) in enumerate(zip(calls, fragments, strict=True)):
            start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
            frames.append(_event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            frames.extend(
                _event(
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}},
                )
                for part in parts
            )
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        return StreamRendering(_STREAM, (*frames, *_ending("tool_use", usage)), terminal=2)

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """ConverseStream is its own endpoint (``/model/{id}/converse-stream``)."""
        return request.path.rstrip("/").endswith("/converse-stream")

    def replace_event_json(self, frame: bytes, payload: bytes) -> bytes:
        """The event-stream message ``frame`` re-framed around ``payload`` (checksums redone)."""
        (length,) = struct.unpack("!I", frame[4:8])
        return _framed(frame[12 : 12 + length], payload)

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``texts`` (Cohere body) or ``inputText`` (Titan body)."""
        body = request.json() or {}
        if "texts" in body:
            return [str(t) for t in body["texts"]]
        return [str(body.get("inputText", ""))]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """The family's answer; the token count in ``x-amzn-bedrock-input-token-count``."""
        body: dict[str, Any]
        if "texts" in (request.json() or {}):
            body = {
                "id": "contract-embed",
                "embeddings": {"float": [list(v) for v in vectors]},
                "response_type": "embeddings_by_type",
                "texts": self.embed_inputs(request),
            }
        else:
            body = {"embedding": list(vectors[0]), "inputTextTokenCount": usage.input_tokens}
        headers = {**_JSON, "x-amzn-bedrock-input-token-count": str(usage.input_tokens)}
        return Reply(200, headers, (json_bytes(body),))

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"message"}`` with the exception name in ``x-amzn-errortype``."""
        all_headers = dict(_JSON)
        kind = _ERROR_TYPES.get(status)
        if kind is not None:
            all_headers["x-amzn-errortype"] = (
                f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            )
        all_headers.update(headers or {})
        return Reply(status, all_headers, (json.dumps({"message": message}).encode(),))

    def reasoning_enabled(self, request: CapturedRequest) -> bool:
        """Whether ``additionalModelRequestFields.thinking`` turns Claude's thinking on."""
        fields = (request.json() or {}).get("additionalModelRequestFields")
        thinking = fields.get("thinking") if isinstance(fields, dict) else None
        return isinstance(thinking, dict) and thinking.get("type") == "enabled"

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """Why Converse refuses Claude's ``additionalModelRequestFields.thinking``, or None.

        The rules are the Messages API's: a budget of at least 1024, below ``maxTokens``.
        """
        body = request.json() or {}
        fields = body.get("additionalModelRequestFields")
        inference = body.get("inferenceConfig")
        thinking = fields.get("thinking") if isinstance(fields, dict) else None
        max_tokens = inference.get("maxTokens") if isinstance(inference, dict) else None
        return thinking_refusal(thinking, max_tokens)

    def thinking_budget(self, request: CapturedRequest) -> int | None:
        """``additionalModelRequestFields.thinking.budget_tokens`` when thinking is enabled."""
        fields = (request.json() or {}).get("additionalModelRequestFields")
        thinking = fields.get("thinking") if isinstance(fields, dict) else None
        return enabled_budget(thinking, "budget_tokens")

    def budget_range(self, model: str) -> tuple[int, int | None]:
        """Claude's: at least 1024 tokens; the most is below ``maxTokens``, not a constant."""
        return (MIN_THINKING_BUDGET, None)

    def context_overflow_event(self, message: str) -> bytes:
        """A ``validationException`` frame, as ConverseStream refuses a prompt too long."""
        return exception_frame("validationException", message)

    def stream_error(self, message: str) -> bytes:
        """A ``modelStreamErrorException`` frame."""
        return exception_frame("modelStreamErrorException", message)

    def stream_error_for(self, status: int, message: str) -> bytes:
        """The exception frame ConverseStream sends for HTTP ``status`` (the type names it)."""
        kind = _STREAM_EXCEPTIONS.get(status)
        if kind is None:
            msg = f"ConverseStream has no in-stream exception for HTTP {status}"
            raise NotImplementedError(msg)
        return exception_frame(kind, message)
