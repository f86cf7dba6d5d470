"""Sans-IO codec for Bedrock's Converse API: typed requests to wire dicts, answers to values.

Nothing here does I/O. Wire facts this module relies on (API reference and recordings):

* ``POST /model/{modelId}/converse`` takes ``messages`` of ``user``/``assistant`` turns whose
  ``content`` is a list of blocks (``text``, ``image``, ``document``, ``toolUse``,
  ``toolResult``, ``reasoningContent``, ``cachePoint``), a top-level ``system`` list,
  ``inferenceConfig``, ``toolConfig`` and ``outputConfig`` (structured output, whose
  ``jsonSchema.schema`` is a JSON *string*); binary data travels as base64 text;
* turns must alternate, starting with ``user``; tool results are ``toolResult`` blocks in
  the user turn after the call; ``toolUseId`` matches ``[a-zA-Z0-9_-]+``;
* ``usage.inputTokens`` leaves out cached prompt tokens, reported as
  ``cacheReadInputTokens`` / ``cacheWriteInputTokens``; ``Usage.input_tokens`` adds them back;
* ``ConverseStream`` answers with AWS event-stream frames (``messageStart``,
  ``contentBlockStart/Delta/Stop``, ``messageStop``, ``metadata`` with the usage), or an
  ``exception`` frame naming the error; decoded with botocore's ``EventStreamBuffer``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ContextLengthExceededError
from lmux_plug import DeveloperMessage
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug import Message
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.codec import add_turn
from lmux_plug.codec import count_of
from lmux_plug.codec import objects_of
from lmux_plug.codec import reasoning_level
from lmux_plug.codec import tool_arguments
from lmux_plug.wire import json_object
from lmux_plug.wire import merge_extra
from lmux_plug.wire import path_segment
from lmux_plug.wire import sampling
from lmux_plug.wire import stream_event

__all__ = [
    "ConverseStreamDecoder",
    "decode_converse",
    "encode_converse",
    "finish_reason_of",
    "is_context_overflow",
    "model_path",
    "stream_exception",
    "tool_use_id",
    "usage_of",
]

PROVIDER = "bedrock"
_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "guardrail_intervened": FinishReason.CONTENT_FILTER,
    "content_filtered": FinishReason.CONTENT_FILTER,
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_TOOL_ID = re.compile(r"[^a-zA-Z0-9_-]")
_DOCUMENT_NAME = re.compile(r"[^a-zA-Z0-9 ()\[\]-]")
# Thinking budgets (tokens) for Claude on Bedrock (``additionalModelRequestFields``).
_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}


def _bad(message: str, model: str | None) -> InvalidRequestError:
    return InvalidRequestError(message, provider=PROVIDER, model=model)


def _fitted_budget(request: ChatRequest, level: str) -> int:
    """The level's thinking budget, fitted under the caller's ``max_tokens``.

    Claude on Converse requires budget_tokens < maxTokens and at least 1024: a cap at or
    below the budget shrinks it to cap - 1, and a cap that leaves less than 1024 is refused.
    """
    budget = _BUDGETS[level]
    cap = request.max_tokens
    if cap is None or cap > budget:
        return budget
    if cap - 1 < _BUDGETS["minimal"]:
        msg = (
            f"reasoning_effort={request.reasoning_effort!r} needs max_tokens > "
            f"{_BUDGETS['minimal']} (the minimum thinking budget), got {cap}"
        )
        raise _bad(msg, request.model)
    return cap - 1


def model_path(model: str) -> str:
    """``model`` percent-encoded as one path segment (``:`` → ``%3A``, ``/`` → ``%2F``).

    This is the form the URL carries and the form SigV4 signs (and encodes once more in its
    canonical request); nothing may re-quote the URL after signing. Ids with a ``.``/``..``
    segment or control characters are refused with ``InvalidRequestError`` before any I/O.
    """
    return path_segment(model, provider="bedrock")


def tool_use_id(call_id: str) -> str:
    """A tool call id in the characters Converse accepts (others become ``_``)."""
    return _TOOL_ID.sub("_", call_id) or "call"


# --------------------------------------------------------------------------- requests


def _image(part: ImageContent, index: int, model: str) -> dict[str, Any]:
    if part.url.startswith("s3://"):
        media = part.url.rsplit(".", 1)[-1].lower().replace("jpg", "jpeg")
        if media not in _IMAGE_FORMATS.values():
            msg = f"message {index}: cannot tell the image format of {part.url!r}"
            raise _bad(msg, model)
        return {"image": {"format": media, "source": {"s3Location": {"uri": part.url}}}}
    data = part.base64_data
    media_type = part.media_type
    if data is None or media_type is None:
        msg = (
            f"message {index}: Bedrock takes images as base64 data: URLs or s3:// URIs, "
            f"not {part.url[:40]!r}"
        )
        raise _bad(msg, model)
    fmt = _IMAGE_FORMATS.get(media_type)
    if fmt is None:
        msg = f"message {index}: image type {media_type!r} is not png, jpeg, gif or webp"
        raise _bad(msg, model)
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document(part: FileContent, index: int, model: str) -> dict[str, Any]:
    fmt = _DOCUMENT_FORMATS.get(part.media_type)
    if fmt is None or part.data is None:
        msg = (
            f"message {index}: Bedrock takes documents as base64 data of type "
            f"{', '.join(sorted(_DOCUMENT_FORMATS))}; got {part.media_type!r}"
            + ("" if part.data is not None else " without data")
        )
        raise _bad(msg, model)
    # Names allow letters, digits, spaces, hyphens, parentheses and brackets only.
    name = _DOCUMENT_NAME.sub(" ", (part.filename or f"document {index}").rsplit(".", 1)[0])
    return {
        "document": {
            "format": fmt,
            "name": name.strip() or "document",
            "source": {"bytes": part.data},
        }
    }


def _user_blocks(message: UserMessage, index: int, model: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        blocks: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    else:
        blocks = []
        for part in message.content:
            if isinstance(part, TextContent):
                if part.text:
                    blocks.append({"text": part.text})
                if part.cache_control:
                    blocks.append({"cachePoint": {"type": "default"}})
            elif isinstance(part, ImageContent):
                blocks.append(_image(part, index, model))
            elif isinstance(part, FileContent):
                blocks.append(_document(part, index, model))
            elif isinstance(part, AudioContent):
                msg = f"message {index}: Converse takes no audio input"
                raise _bad(msg, model)
    if message.cache_control and blocks:
        blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def _assistant_blocks(message: AssistantMessage, index: int, model: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.thinking:
        if block.redacted and block.text:
            blocks.append({"reasoningContent": {"redactedContent": block.text}})
        elif block.signature and block.text:
            reasoning = {"text": block.text, "signature": block.signature}
            blocks.append({"reasoningContent": {"reasoningText": reasoning}})
        # Unsigned reasoning (another provider's) cannot be verified by Bedrock: dropped.
    if message.content:
        blocks.append({"text": message.content})
    for call in message.tool_calls:
        arguments = tool_arguments(call, index=index, provider=PROVIDER, model=model)
        blocks.append(
            {"toolUse": {"toolUseId": tool_use_id(call.id), "name": call.name, "input": arguments}}
        )
    return blocks


def _tool_result(message: ToolMessage) -> dict[str, Any]:
    try:
        value = json.loads(message.content)
    except ValueError:
        value = None
    content = [{"json": value}] if isinstance(value, dict) else [{"text": message.content}]
    result: dict[str, Any] = {"toolUseId": tool_use_id(message.tool_call_id), "content": content}
    if message.is_error:
        result["status"] = "error"
    return {"toolResult": result}


def _conversation(
    messages: tuple[Message, ...], model: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    for index, message in enumerate(messages):
        if isinstance(message, (SystemMessage, DeveloperMessage)):
            if message.content:
                system.append({"text": message.content})
            if isinstance(message, SystemMessage) and message.cache_control:
                system.append({"cachePoint": {"type": "default"}})
        elif isinstance(message, UserMessage):
            blocks = _user_blocks(message, index, model)
            if not blocks:
                msg = f"message {index}: user message has no content"
                raise _bad(msg, model)
            add_turn(turns, "user", blocks)
        elif isinstance(message, AssistantMessage):
            blocks = _assistant_blocks(message, index, model)
            if blocks:  # an empty assistant turn says nothing
                add_turn(turns, "assistant", blocks)
        elif isinstance(message, ToolMessage):
            add_turn(turns, "user", [_tool_result(message)])
    if not turns:
        raise _bad("at least one user message is needed", model)
    if turns[0]["role"] != "user":
        raise _bad("the conversation must start with a user message (Converse)", model)
    return system, turns


def _has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])


def _history_tools(turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    names = {b["toolUse"]["name"]: None for t in turns for b in t["content"] if "toolUse" in b}
    if not names:
        return None
    open_schema = {"json": {"type": "object", "properties": {}}}
    return {"tools": [{"toolSpec": {"name": n, "inputSchema": open_schema}} for n in names]}


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = request.tool_choice
    tools = list(request.tools or ())
    if choice is not None and choice.mode in ("required", "function") and not tools:
        msg = f"tool_choice={choice.mode!r} needs tools"
        raise _bad(msg, request.model)
    if not tools:
        # Converse refuses a conversation holding toolUse / toolResult blocks without a
        # toolConfig (a follow-up question after a tool round, sent without the tools): the
        # tools the conversation already used are declared, with an open schema.
        return _history_tools(turns)
    if choice is not None and choice.mode == "none" and not _has_tool_blocks(turns):
        # Converse has no "none" choice: not offering the tools is how to forbid calls.
        return None
    specs = []
    for tool in tools:
        function = tool.function
        schema = dict(function.parameters) or {"type": "object", "properties": {}}
        schema.setdefault("type", "object")
        spec: dict[str, Any] = {"name": function.name, "inputSchema": {"json": schema}}
        if function.description:
            spec["description"] = function.description
        if function.strict:
            spec["strict"] = True
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice is not None and choice.mode == "required":
        config["toolChoice"] = {"any": {}}
    elif choice is not None and choice.mode == "function":
        if choice.function_name not in {t.function.name for t in tools}:
            msg = f"tool_choice names {choice.function_name!r}, which is not among the tools"
            raise _bad(msg, request.model)
        config["toolChoice"] = {"tool": {"name": choice.function_name}}
    elif choice is not None and choice.mode == "auto":
        config["toolChoice"] = {"auto": {}}
    return config


def _output_config(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if isinstance(fmt, JsonObjectResponseFormat):
        msg = "Bedrock has no JSON mode; pass a json_schema response_format instead"
        raise _bad(msg, request.model)
    if not isinstance(fmt, JsonSchemaResponseFormat):
        return None
    definition: dict[str, Any] = {
        # Bedrock wants the schema as a JSON string, not an object.
        "schema": json.dumps(dict(fmt.schema), separators=(",", ":")),
        "name": fmt.name,
    }
    if fmt.description:
        definition["description"] = fmt.description
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def encode_converse(request: ChatRequest) -> dict[str, Any]:
    """The ``converse`` / ``converse-stream`` body for ``request``.

    Raises :class:`InvalidRequestError` for input Converse cannot take. ``request.extra`` is
    merged last (``additionalModelRequestFields``, ``guardrailConfig``, ``performanceConfig``,
    ``promptVariables``, ``requestMetadata`` ...), ``inferenceConfig`` key by key.
    """
    model = request.model
    system, turns = _conversation(request.messages, model)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    # Converse's inferenceConfig has no seed.
    names = {"max_tokens": "maxTokens", "top_p": "topP", "stop": "stopSequences"}
    inference = sampling(request, provider=PROVIDER, seed=None, **names)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, turns)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    output = _output_config(request)
    if output is not None:
        body["outputConfig"] = output
    if request.reasoning_effort is not None:
        level = reasoning_level(request.reasoning_effort, provider=PROVIDER, model=model)
        thinking = (
            {"type": "disabled"}
            if level == "none"
            else {"type": "enabled", "budget_tokens": _fitted_budget(request, level)}
        )
        body["additionalModelRequestFields"] = {"thinking": thinking}
    merge_extra(body, request.extra, nested=("inferenceConfig", "additionalModelRequestFields"))
    return body


# --------------------------------------------------------------------------- responses


def usage_of(usage: Any) -> Usage:
    """Converse ``usage``; cache reads and writes are added back into ``input_tokens``."""
    if not isinstance(usage, Mapping):
        return Usage()
    read = count_of(usage, "cacheReadInputTokens")
    write = count_of(usage, "cacheWriteInputTokens")
    return Usage(
        input_tokens=count_of(usage, "inputTokens") + read + write,
        output_tokens=count_of(usage, "outputTokens"),
        cache_read_tokens=read,
        cache_creation_tokens=write,
    )


def finish_reason_of(raw: Any, has_tool_calls: bool) -> FinishReason:
    """Map ``stopReason``; a normal end with tool calls is ``TOOL_CALLS``."""
    reason = _FINISH.get(str(raw), FinishReason.OTHER)
    if reason is FinishReason.STOP and has_tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


def _reasoning_block(raw: Any) -> ThinkingBlock | None:
    if not isinstance(raw, Mapping):
        return None
    text = raw.get("reasoningText")
    if isinstance(text, Mapping):
        signature = text.get("signature")
        return ThinkingBlock(
            text=str(text.get("text", "")),
            signature=signature if isinstance(signature, str) else None,
        )
    redacted = raw.get("redactedContent")
    if isinstance(redacted, str):
        return ThinkingBlock(text=redacted, redacted=True)
    return None


def decode_converse(
    body: Any, headers: Mapping[str, str], *, model: str, provider: str = PROVIDER
) -> ChatResponse:
    """Decode a ``converse`` response body (parsed JSON); the request id is a header."""
    body = json_object(body, what="Bedrock response", provider=provider, model=model)
    output = body.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    if not isinstance(message, Mapping):
        raise ProviderError(
            "Bedrock response has no output message", provider=provider, model=model
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingBlock] = []
    content = message.get("content")
    for block in objects_of(content):
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            calls.append(
                ToolCall(
                    id=str(use.get("toolUseId") or f"call_{len(calls)}"),
                    name=str(use.get("name", "")),
                    arguments=json.dumps(use.get("input", {})),
                )
            )
        elif (reasoning := _reasoning_block(block.get("reasoningContent"))) is not None:
            thinking.append(reasoning)
    return ChatResponse(
        content="".join(texts) if texts else None,
        model=model,
        provider=provider,
        finish_reason=finish_reason_of(body.get("stopReason", "end_turn"), bool(calls)),
        tool_calls=calls,
        usage=usage_of(body.get("usage")),
        request_id=headers.get("x-amzn-requestid"),
        thinking=thinking,
        raw=body,
    )


# --------------------------------------------------------------------------- streaming


def stream_exception(kind: str, message: str, *, model: str, provider: str) -> LmuxError:
    """The error for an ``exception`` frame of a ConverseStream (``:exception-type``)."""
    text = f"Bedrock stream {kind}: {message}"
    lowered = kind.lower()
    if lowered in ("throttlingexception", "modelnotreadyexception"):
        return RateLimitError(text, provider=provider, model=model, status_code=429)
    if lowered == "validationexception":
        if is_context_overflow(message):
            return ContextLengthExceededError(text, provider=provider, model=model, status_code=400)
        return InvalidRequestError(text, provider=provider, model=model, status_code=400)
    # modelStreamErrorException, internalServerException, serviceUnavailableException, ...
    return ProviderError(text, provider=provider, model=model)


_CONTEXT_MARKERS = (
    "too long",
    "too many input tokens",
    "too many tokens",
    "context window",
    "context length",
    "maximum context",
    "input token count",
)


def is_context_overflow(message: str) -> bool:
    """Whether a Bedrock validation message says the input is longer than the model takes."""
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


class ConverseStreamDecoder:
    """Feed raw event-stream bytes; get :class:`ChatChunk` values; :meth:`finish` at the end.

    The terminal chunk carries the ``messageStop`` reason and the ``metadata`` usage (which
    Bedrock sends after ``messageStop``). A stream that ends without ``messageStop``, or in
    the middle of a frame, raises :class:`ProviderError`; an ``exception`` frame raises the
    matching error.
    """

    def __init__(
        self, *, model: str, provider: str = PROVIDER, request_id: str | None = None
    ) -> None:
        import importlib  # noqa: PLC0415

        # Imported on the first stream (heavy); botocore ships no type information.
        self._eventstream: Any = importlib.import_module("botocore.eventstream")
        self.model = model
        self.provider = provider
        self.request_id = request_id
        self._buffer: Any = self._eventstream.EventStreamBuffer()
        self._pending = 0  # bytes given to the buffer and not yet returned as frames
        self._stop: Any = None
        self._calls: dict[int, int] = {}  # content block index -> tool call index
        self._thinking: dict[int, list[str]] = {}  # block index -> reasoning text so far
        self._signatures: dict[int, str] = {}
        self._terminal_sent = False
        self._error: LmuxError | None = None

    @property
    def done(self) -> bool:
        """Whether the terminal chunk (``metadata`` after ``messageStop``) went out."""
        return self._terminal_sent

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add bytes (split anywhere); return the chunks of the frames they complete."""
        self.raise_pending()
        self._buffer.add_data(data)
        self._pending += len(data)
        chunks: list[ChatChunk] = []
        try:
            for frame in self._buffer:
                self._pending -= frame.prelude.total_length
                chunk = self._frame(frame.headers, frame.payload)
                if chunk is not None:
                    chunks.append(chunk)
        except self._eventstream.ParserError as exc:
            msg = f"corrupt AWS event-stream frame from Bedrock: {exc}"
            self._error = ProviderError(msg, provider=self.provider, model=self.model)
            self._error.__cause__ = exc
        except LmuxError as exc:
            self._error = exc
        if not chunks:
            self.raise_pending()
        return chunks

    def raise_pending(self) -> None:
        """Raise the error met after the chunks :meth:`feed` last returned, if any.

        An error frame may arrive in the same read as good frames before it: those chunks
        are returned first, and the error is raised by this call (and by the next feed).
        """
        if self._error is not None:
            raise self._error

    def close(self) -> list[ChatChunk]:
        """End of body (the core driver's shape): :meth:`finish`."""
        return self.finish()

    def finish(self) -> list[ChatChunk]:
        """End of stream: nothing more to emit; errors if the stream was truncated.

        ConverseStream always ends with ``metadata`` (the usage) after ``messageStop``; a
        stream that stops before it is cut short, and must not look complete (its usage, and
        so its cost, would be lost).
        """
        self.raise_pending()
        if self._pending > 0 or self._stop is None:
            raise ProviderError(
                "Bedrock stream ended before messageStop (truncated)",
                provider=self.provider,
                model=self.model,
            )
        if not self._terminal_sent:
            raise ProviderError(
                "Bedrock stream ended before its metadata event (truncated)",
                provider=self.provider,
                model=self.model,
            )
        return []

    def _chunk(self, **fields: Any) -> ChatChunk:
        return ChatChunk(
            model=self.model, provider=self.provider, request_id=self.request_id, **fields
        )

    def _frame(self, headers: Mapping[str, Any], payload: bytes) -> ChatChunk | None:
        kind = headers.get(":message-type", "event")
        if kind == "exception":
            message = _payload_message(payload)
            raise stream_exception(
                str(headers.get(":exception-type", "exception")),
                message,
                model=self.model,
                provider=self.provider,
            )
        if kind == "error":
            raise ProviderError(
                f"Bedrock stream error {headers.get(':error-code')}: "
                f"{headers.get(':error-message')}",
                provider=self.provider,
                model=self.model,
            )
        what = "Bedrock stream event"
        event = (
            stream_event(payload, what=what, provider=self.provider, model=self.model)
            if payload
            else {}
        )
        return self._event(str(headers.get(":event-type", "")), event)

    def _event(self, name: str, event: Mapping[str, Any]) -> ChatChunk | None:
        index = event.get("contentBlockIndex")
        index = index if isinstance(index, int) else 0
        if name == "contentBlockStart":
            start = event.get("start")
            use = start.get("toolUse") if isinstance(start, Mapping) else None
            if isinstance(use, Mapping):
                position = self._calls.setdefault(index, len(self._calls))
                delta = ToolCallDelta(
                    index=position,
                    id=str(use.get("toolUseId") or f"call_{position}"),
                    name=str(use.get("name", "")),
                )
                return self._chunk(tool_call_deltas=(delta,))
            return None
        if name == "contentBlockDelta":
            return self._delta(index, event.get("delta"))
        if name == "contentBlockStop":
            return self._close_reasoning(index)
        if name == "messageStop":
            self._stop = event.get("stopReason", "end_turn")
            return None
        if name == "metadata":
            if self._stop is None or self._terminal_sent:
                return None
            self._terminal_sent = True
            return self._chunk(
                finish_reason=finish_reason_of(self._stop, bool(self._calls)),
                usage=usage_of(event.get("usage")),
            )
        return None  # messageStart and events this codec does not know

    def _delta(self, index: int, delta: Any) -> ChatChunk | None:
        if not isinstance(delta, Mapping):
            return None
        if isinstance(delta.get("text"), str):
            return self._chunk(delta=delta["text"]) if delta["text"] else None
        use = delta.get("toolUse")
        if isinstance(use, Mapping):
            position = self._calls.setdefault(index, len(self._calls))
            fragment = use.get("input")
            if isinstance(fragment, str) and fragment:
                return self._chunk(tool_call_deltas=(ToolCallDelta(position, arguments=fragment),))
            return None
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, Mapping):
            if isinstance(reasoning.get("text"), str):
                self._thinking.setdefault(index, []).append(reasoning["text"])
                return self._chunk(thinking_delta=reasoning["text"])
            if isinstance(reasoning.get("signature"), str):
                self._signatures[index] = reasoning["signature"]
            elif isinstance(reasoning.get("redactedContent"), str):
                block = ThinkingBlock(text=reasoning["redactedContent"], redacted=True)
                return self._chunk(thinking=(block,))
        return None

    def _close_reasoning(self, index: int) -> ChatChunk | None:
        texts = self._thinking.pop(index, None)
        signature = self._signatures.pop(index, None)
        if texts is None and signature is None:
            return None
        block = ThinkingBlock(text="".join(texts or ()), signature=signature)
        return self._chunk(thinking=(block,))


def _payload_message(payload: bytes) -> str:
    try:
        decoded = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:300]
    if isinstance(decoded, Mapping) and decoded.get("message") is not None:
        return str(decoded["message"])
    return json.dumps(decoded)[:300]
