"""Sans-IO codec for Cohere's v2 API: typed requests to wire dicts, wire bytes to typed values.

Nothing here does I/O, so the same code serves the async hooks, the sync API and tests that
split a stream at arbitrary byte boundaries.

Wire facts this module relies on (from Cohere's API reference and recorded traffic):

* ``POST /v2/chat`` takes OpenAI-like ``messages`` (``system``/``user``/``assistant``/
  ``tool``) and ``tools``; ``tool_choice`` is only ``REQUIRED`` or ``NONE``;
* an answer's ``message.content`` is a list of ``text`` (and ``thinking``) parts;
  ``message.tool_plan`` is the model's reasoning before its tool calls, not answer text;
  ``message.citations`` point into the answer and are kept on ``ChatResponse.raw``;
* ``usage.tokens`` counts every token the model saw (the system preamble included),
  ``usage.billed_units`` what is billed, ``usage.cached_tokens`` the cached prompt tokens;
* streams are SSE: ``message-start``, ``content-start/-delta/-end``, ``tool-plan-delta``,
  ``tool-call-start/-delta/-end``, ``citation-start/-end``, ``message-end`` (finish reason
  and usage), then ``data: [DONE]``;
* error bodies are ``{"id", "message"}`` without an ``error`` object: the HTTP status decides
  (401 for a bad key, 400 "too many tokens" for a context overflow, 429, 499, 500).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug import AssistantMessage
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import DeveloperMessage
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug import Message
from lmux_plug import ProviderError
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.codec import count_of
from lmux_plug.codec import objects_of
from lmux_plug.codec import reasoning_level
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import SSEDecoder
from lmux_plug.wire import WireRequest
from lmux_plug.wire import json_object
from lmux_plug.wire import one_per_input
from lmux_plug.wire import sampling
from lmux_plug.wire import stream_event
from lmux_plug_cohere._spec import DEFAULT_INPUT_TYPE
from lmux_plug_cohere._spec import THINKING_CEILINGS

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = [
    "CHAT_PATH",
    "CODEC",
    "EMBED_PATH",
    "CohereCodec",
    "CohereStreamDecoder",
    "billed_usage",
    "decode_chat",
    "decode_embeddings",
    "encode_chat",
    "encode_embeddings",
    "finish_reason_of",
    "usage_of",
]

PROVIDER = "cohere"
CHAT_PATH = "v2/chat"
EMBED_PATH = "v2/embed"
_FINISH = {
    "COMPLETE": FinishReason.STOP,
    "STOP_SEQUENCE": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "TOOL_CALL": FinishReason.TOOL_CALLS,
    "ERROR": FinishReason.ERROR,
    "TIMEOUT": FinishReason.ERROR,
}
# Thinking budgets (tokens) for Cohere's reasoning models, which take a budget.
_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}


def _bad(message: str, model: str | None) -> InvalidRequestError:
    return InvalidRequestError(message, provider=PROVIDER, model=model)


# --------------------------------------------------------------------------- requests


def _user_content(message: UserMessage, index: int, model: str) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextContent):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ImageContent):
            if not part.url:
                msg = f"message {index}: an image part needs a url (https: or data:)"
                raise _bad(msg, model)
            image: dict[str, Any] = {"url": part.url}
            if part.detail:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            msg = f"message {index}: Cohere chat takes text and images, not {part.type} parts"
            raise _bad(msg, model)
    return parts


def _assistant(message: AssistantMessage) -> dict[str, Any] | None:
    turn: dict[str, Any] = {"role": "assistant"}
    if message.tool_calls:
        turn["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments or "{}"},
            }
            for call in message.tool_calls
        ]
        plan = "".join(block.text for block in message.thinking if not block.redacted)
        if plan:
            # Cohere's reasoning before tool calls goes back where it came from.
            turn["tool_plan"] = plan
    if message.content:
        turn["content"] = message.content
    return turn if len(turn) > 1 else None


def _messages(messages: tuple[Message, ...], model: str) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if isinstance(message, (SystemMessage, DeveloperMessage)):
            wire.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            wire.append({"role": "user", "content": _user_content(message, index, model)})
        elif isinstance(message, AssistantMessage):
            turn = _assistant(message)
            if turn is not None:  # an empty assistant turn says nothing
                wire.append(turn)
        elif isinstance(message, ToolMessage):
            wire.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
    if not any(m["role"] != "system" for m in wire):
        raise _bad("at least one user or assistant message is needed", model)
    return wire


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    tools = list(request.tools or ())
    choice = request.tool_choice
    if choice is not None and choice.mode == "function":
        # Cohere cannot name a function: offer only that one and require a call.
        tools = [t for t in tools if t.function.name == choice.function_name]
        if not tools:
            msg = f"tool_choice names {choice.function_name!r}, which is not among the tools"
            raise _bad(msg, request.model)
    wire = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description:
            function["description"] = tool.function.description
        function["parameters"] = dict(tool.function.parameters)
        wire.append({"type": "function", "function": function})
    return wire


def _tool_choice(request: ChatRequest) -> str | None:
    choice = request.tool_choice
    if choice is None or choice.mode == "auto":
        return None
    if choice.mode in ("required", "function") and not request.tools:
        msg = f"tool_choice={choice.mode!r} needs tools"
        raise _bad(msg, request.model)
    return "NONE" if choice.mode == "none" else "REQUIRED"


def _thinking(effort: str, model: str) -> dict[str, Any]:
    level = reasoning_level(effort, provider=PROVIDER, model=model)
    if level == "none":
        return {"type": "disabled"}
    # A level's budget is fitted below the model's output limit (the spec's ceiling).
    budget = min(_BUDGETS[level], THINKING_CEILINGS.get(model, _BUDGETS[level]))
    return {"type": "enabled", "token_budget": budget}


def encode_chat(request: ChatRequest) -> dict[str, Any]:
    """The ``POST /v2/chat`` body for ``request`` (without ``stream``).

    Raises :class:`InvalidRequestError` for input Cohere cannot take. ``request.extra``
    (``k``, ``frequency_penalty``, ``documents``, ``safety_mode``, ...) is merged last.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request.messages, request.model),
    }
    if request.tools:
        body["tools"] = _tools(request)
        if any(tool.function.strict for tool in request.tools):
            body["strict_tools"] = True
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    body.update(sampling(request, provider=PROVIDER, top_p="p", stop="stop_sequences"))
    fmt = request.response_format
    if isinstance(fmt, JsonObjectResponseFormat):
        body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, JsonSchemaResponseFormat):
        body["response_format"] = {"type": "json_object", "json_schema": dict(fmt.schema)}
    if request.reasoning_effort is not None:
        body["thinking"] = _thinking(request.reasoning_effort, request.model)
    body.update(request.extra)
    return body


def encode_embeddings(request: EmbeddingRequest, texts: tuple[str, ...]) -> dict[str, Any]:
    """The ``POST /v2/embed`` body for ``texts`` (one batch of ``request``'s inputs).

    ``input_type`` comes from ``extra_body`` and defaults to
    :data:`~lmux_plug_cohere._spec.DEFAULT_INPUT_TYPE`; vectors are asked for as floats.
    """
    if request.dimensions is not None and request.dimensions < 1:
        raise _bad("dimensions must be >= 1", request.model)
    if request.encoding_format == "base64":
        msg = "Cohere embeddings are returned as floats here; encoding_format='base64' is refused"
        raise _bad(msg, request.model)
    extra = dict(request.extra)
    body: dict[str, Any] = {
        "model": request.model,
        "texts": list(texts),
        "input_type": extra.pop("input_type", DEFAULT_INPUT_TYPE),
        "embedding_types": ["float"],
    }
    if request.dimensions is not None:
        body["output_dimension"] = request.dimensions
    body.update(extra)
    return body


# --------------------------------------------------------------------------- responses


def usage_of(usage: Any) -> Usage:
    """``usage.tokens`` (every token), with ``cached_tokens`` as cache reads.

    Falls back to ``billed_units`` when a body carries no ``tokens`` block.
    """
    if not isinstance(usage, Mapping):
        return Usage()
    tokens = usage.get("tokens")
    if not isinstance(tokens, Mapping):
        tokens = usage.get("billed_units")
    if not isinstance(tokens, Mapping):
        return Usage()
    input_tokens = count_of(tokens, "input_tokens")
    return Usage(
        input_tokens=input_tokens,
        output_tokens=count_of(tokens, "output_tokens"),
        cache_read_tokens=min(count_of(usage, "cached_tokens"), input_tokens),
    )


def billed_usage(usage: Any) -> Usage | None:
    """``usage.billed_units`` (or ``meta.billed_units``) as a :class:`Usage`."""
    if not isinstance(usage, Mapping):
        return None
    billed = usage.get("billed_units")
    if not isinstance(billed, Mapping):
        return None
    return Usage(
        input_tokens=count_of(billed, "input_tokens"),
        output_tokens=count_of(billed, "output_tokens"),
    )


def finish_reason_of(raw: Any, has_tool_calls: bool) -> FinishReason:
    """Map Cohere's ``finish_reason``; a normal end with tool calls is ``TOOL_CALLS``."""
    reason = _FINISH.get(str(raw), FinishReason.OTHER)
    if reason is FinishReason.STOP and has_tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls = []
    for index, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, Mapping):
            continue
        function = item.get("function")
        function = function if isinstance(function, Mapping) else {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = item.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                name=str(function.get("name", "")),
                arguments=arguments,
            )
        )
    return tuple(calls)


def decode_chat(body: Any, *, model: str, provider: str = PROVIDER) -> ChatResponse:
    """Decode a ``/v2/chat`` response body (already parsed JSON).

    ``raw`` keeps the whole body: ``citations`` and ``usage.billed_units`` are there.
    """
    body = json_object(body, what="Cohere response", provider=provider, model=model)
    message = body.get("message")
    if not isinstance(message, Mapping):
        raise ProviderError("Cohere response has no message", provider=provider, model=model)
    texts: list[str] = []
    thinking: list[ThinkingBlock] = []
    plan = message.get("tool_plan")
    if isinstance(plan, str) and plan:
        thinking.append(ThinkingBlock(text=plan))
    content = message.get("content")
    for part in objects_of(content):
        if part.get("type") == "thinking" and isinstance(part.get("thinking"), str):
            thinking.append(ThinkingBlock(text=part["thinking"]))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    if isinstance(content, str):  # tolerated: a plain string content
        texts.append(content)
    calls = _tool_calls(message.get("tool_calls"))
    response_id = body.get("id")
    return ChatResponse(
        content="".join(texts) if texts else None,
        model=model,
        provider=provider,
        finish_reason=finish_reason_of(body.get("finish_reason", "COMPLETE"), bool(calls)),
        tool_calls=calls,
        usage=usage_of(body.get("usage")),
        request_id=response_id if isinstance(response_id, str) else None,
        thinking=thinking,
        raw=body,
    )


def decode_embeddings(
    body: Any, *, model: str, expected: int, provider: str = PROVIDER
) -> EmbeddingResponse:
    """Decode a ``/v2/embed`` body (``embeddings.float``, or a plain list from older servers)."""
    embeddings = body.get("embeddings") if isinstance(body, Mapping) else None
    if isinstance(embeddings, Mapping):
        embeddings = embeddings.get("float")
    what = "float embeddings"
    vectors = []
    for values in one_per_input(
        embeddings, expected, source="Cohere", what=what, provider=provider, model=model
    ):
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            raise ProviderError("Cohere embedding is not a list of numbers", provider=provider)
        vectors.append(tuple(float(v) for v in values))
    meta = body.get("meta") if isinstance(body, Mapping) else None
    billed = billed_usage(meta) or Usage()
    response_id = body.get("id") if isinstance(body, Mapping) else None
    return EmbeddingResponse(
        embeddings=vectors,
        model=model,
        provider=provider,
        usage=Usage(input_tokens=billed.input_tokens),
        request_id=response_id if isinstance(response_id, str) else None,
    )


# --------------------------------------------------------------------------- streaming


def _path(event: Mapping[str, Any], *keys: str) -> Any:
    value: Any = event
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


class CohereStreamDecoder:
    """Feed raw SSE bytes; get :class:`ChatChunk` values; call :meth:`finish` at the end.

    The terminal chunk (finish reason and usage) comes from the ``message-end`` event;
    :meth:`finish` raises :class:`ProviderError` when the stream ended without one. An
    error event, or ``message-end`` with ``finish_reason: ERROR`` and an error text, raises.
    """

    def __init__(self, *, model: str, provider: str = PROVIDER) -> None:
        self.model = model
        self.provider = provider
        self._sse = SSEDecoder()
        self._request_id: str | None = None
        self._calls = 0
        self._ended = False
        #: Citations met in the stream (``citation-start`` events), in order.
        self.citations: list[Any] = []
        #: ``usage.billed_units`` of ``message-end`` (what Cohere bills).
        self.billed: Usage | None = None
        self._error: LmuxError | None = None

    @property
    def done(self) -> bool:
        """Whether ``message-end`` arrived."""
        return self._ended

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add bytes (split anywhere); return the chunks they complete.

        An error event after good events in the same bytes: those chunks are returned
        first and the error is raised by :meth:`raise_pending` (and by the next feed).
        """
        self.raise_pending()
        chunks: list[ChatChunk] = []
        try:
            self._events(self._sse.feed(data), chunks)
        except LmuxError as exc:
            self._error = exc
        if not chunks:
            self.raise_pending()
        return chunks

    def close(self) -> list[ChatChunk]:
        """End of body (the core driver's name for :meth:`finish`)."""
        return self.finish()

    def raise_pending(self) -> None:
        """Raise the error met after the chunks :meth:`feed` last returned, if any."""
        if self._error is not None:
            raise self._error

    def finish(self) -> list[ChatChunk]:
        """End of stream: the chunks of a last unterminated event, or an error if truncated."""
        self.raise_pending()
        chunks: list[ChatChunk] = []
        if self._ended:
            return chunks  # what follows message-end ([DONE], maybe cut short) says nothing
        self._events(self._sse.flush(), chunks)
        if not self.done:  # message-end may have been the last, unterminated event
            raise ProviderError(
                "Cohere stream ended before message-end (truncated)",
                provider=self.provider,
                model=self.model,
            )
        return chunks

    def _events(self, events: list[Any], chunks: list[ChatChunk]) -> None:
        for event in events:
            payload = event.data.strip()
            if not payload or payload == "[DONE]":
                continue
            decoded = stream_event(
                payload, what="Cohere stream event", provider=self.provider, model=self.model
            )
            chunk = self._event(decoded, event.event)
            if chunk is not None:
                chunks.append(chunk)

    def _chunk(self, **fields: Any) -> ChatChunk:
        return ChatChunk(
            model=self.model, provider=self.provider, request_id=self._request_id, **fields
        )

    def _event(self, event: Mapping[str, Any], name: str) -> ChatChunk | None:
        kind = event.get("type", name)
        if kind == "message-start":
            if isinstance(event.get("id"), str):
                self._request_id = event["id"]
            return None
        if kind in ("content-start", "content-delta"):
            content = _path(event, "delta", "message", "content")
            if not isinstance(content, Mapping):
                return None
            text, thought = content.get("text"), content.get("thinking")
            if isinstance(thought, str) and thought:
                return self._chunk(thinking_delta=thought)
            if isinstance(text, str) and text:
                return self._chunk(delta=text)
            return None
        if kind == "tool-plan-delta":
            plan = _path(event, "delta", "message", "tool_plan")
            return self._chunk(thinking_delta=plan) if isinstance(plan, str) and plan else None
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool_call(event, start=kind == "tool-call-start")
        if kind == "citation-start":
            self.citations.append(_path(event, "delta", "message", "citations"))
            return None
        if kind == "message-end":
            return self._end(event)
        if "message" in event and kind not in ("content-end", "tool-call-end", "citation-end"):
            # An error object in the stream ({"message": ...} without a known type).
            raise ProviderError(
                f"Cohere stream error: {event['message']}",
                provider=self.provider,
                model=self.model,
            )
        return None

    def _tool_call(self, event: Mapping[str, Any], *, start: bool) -> ChatChunk | None:
        call = _path(event, "delta", "message", "tool_calls")
        if not isinstance(call, Mapping):
            return None
        index = event.get("index")
        if isinstance(index, int) and index >= 0:
            position = index
        else:
            # Without an index, a start opens the next call and a delta continues the last.
            position = self._calls if start else max(self._calls - 1, 0)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        if start:
            self._calls = max(self._calls, position + 1)
            call_id = call.get("id")
            delta = ToolCallDelta(
                index=position,
                id=call_id if isinstance(call_id, str) and call_id else f"call_{position}",
                name=str(function.get("name", "")),
                arguments=arguments,
            )
        elif arguments:
            delta = ToolCallDelta(index=position, arguments=arguments)
        else:
            return None
        return self._chunk(tool_call_deltas=(delta,))

    def _end(self, event: Mapping[str, Any]) -> ChatChunk:
        delta = event.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        reason = delta.get("finish_reason")
        error = delta.get("error")
        if reason == "ERROR" and isinstance(error, str) and error:
            raise ProviderError(
                f"Cohere stream error: {error}", provider=self.provider, model=self.model
            )
        self._ended = True
        self.billed = billed_usage(delta.get("usage"))
        return self._chunk(
            finish_reason=finish_reason_of(reason or "COMPLETE", self._calls > 0),
            usage=usage_of(delta.get("usage")),
        )


class CohereCodec(BaseCodec):
    """Cohere's v2 wire for the core driver: ``/v2/chat`` (SSE when streamed), ``/v2/embed``.

    One embed call carries at most ``max_embed_inputs`` texts (the spec's option): the core
    splits longer lists before they reach the codec.
    """

    chat_decoder = staticmethod(decode_chat)
    embed_decoder = staticmethod(decode_embeddings)
    stream_decoder_class = CohereStreamDecoder

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """The chat body; a stream sets ``stream: true`` and accepts ``text/event-stream``."""
        if stream:
            body = {**encode_chat(request), "stream": True}
            return WireRequest(provider.url(CHAT_PATH), body, {"accept": "text/event-stream"})
        return WireRequest(provider.url(CHAT_PATH), encode_chat(request))

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """Every input in one ``POST /v2/embed``."""
        return WireRequest(provider.url(EMBED_PATH), encode_embeddings(request, request.inputs))


#: The codec the plugin's hooks drive.
CODEC = CohereCodec()
