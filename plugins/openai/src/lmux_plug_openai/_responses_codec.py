"""Sans-IO codec for the OpenAI Responses API (``POST /responses``), sync-free and I/O-free.

Encoding: a :class:`ResponseRequest` becomes the JSON body. Decoding: a response object
becomes a :class:`ResponseResponse` that keeps every output item (typed where the core has a
type, the wire's dict otherwise), its ``incomplete_details``, citations and the usage with
cached, cache-written and reasoning tokens. :class:`ResponseStreamDecoder` turns the SSE event
stream into :class:`ResponseChunk` values: ``type`` is the wire's event type, ``delta`` output
text only, and the terminal event (``response.completed`` / ``response.incomplete``) carries the
whole decoded response. ``error`` and ``response.failed`` events raise the matching error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmux_plug import AssistantMessage
from lmux_plug import ResponseChunk
from lmux_plug import ResponseRequest
from lmux_plug import ResponseResponse
from lmux_plug import Tool
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import Usage
from lmux_plug.codec import objects_of
from lmux_plug_openai._bodies import body_with
from lmux_plug_openai._bodies import finished
from lmux_plug_openai._codec import error_from_payload
from lmux_plug_openai._codec import request_id_of
from lmux_plug_openai._event_stream import EventStreamDecoder
from lmux_plug_openai._event_stream import answer_decoder

__all__ = [
    "ResponseStreamDecoder",
    "decode_response",
    "encode_response",
    "response_from_payload",
    "response_usage",
]

_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_FIELDS = (
    "instructions",
    "previous_response_id",
    "max_output_tokens",
    "temperature",
    "top_p",
    "store",
    "prompt_cache_key",
    "parallel_tool_calls",
    "user",
)


# --------------------------------------------------------------------------- encoding


def _tool(tool: Tool | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(tool, Tool):
        return dict(tool)
    function = tool.function
    out: dict[str, Any] = {
        "type": "function",
        "name": function.name,
        "parameters": dict(function.parameters),
    }
    if function.description is not None:
        out["description"] = function.description
    if function.strict is not None:
        out["strict"] = function.strict
    return out


def _tool_choice(request: ResponseRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "function":
        return {"type": "function", "name": choice.function_name}
    return choice.mode


def encode_response(request: ResponseRequest, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /responses`` for ``request``; ``extra`` is merged last."""
    body = body_with(request, _FIELDS, input=_input(request.input))
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.text is not None:
        body["text"] = dict(request.text)
    if request.reasoning is not None:
        body["reasoning"] = dict(request.reasoning)
    if request.include is not None:
        body["include"] = list(request.include)
    if request.metadata is not None:
        body["metadata"] = dict(request.metadata)
    if stream:
        body["stream"] = True
    return finished(body, request)


def _input(value: str | tuple[Mapping[str, Any], ...]) -> str | list[dict[str, Any]]:
    return value if isinstance(value, str) else [dict(item) for item in value]


# --------------------------------------------------------------------------- decoding


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(mapping: Any, *keys: str) -> int:
    for key in keys:
        value = mapping.get(key) if isinstance(mapping, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def response_usage(raw: Any) -> Usage:
    """Normalise Responses ``usage``: cached reads, cache writes and reasoning tokens."""
    if not isinstance(raw, Mapping):
        return Usage()
    details = raw.get("input_tokens_details")
    output_details = raw.get("output_tokens_details")
    return Usage(
        input_tokens=_count(raw, "input_tokens", "prompt_tokens"),
        output_tokens=_count(raw, "output_tokens", "completion_tokens"),
        cache_read_tokens=_count(details, "cached_tokens", "cache_read_tokens"),
        cache_creation_tokens=_count(
            details, "cache_creation_tokens", "cache_write_tokens", "cache_creation_input_tokens"
        )
        or _count(raw, "cache_creation_input_tokens", "cache_write_tokens"),
        reasoning_tokens=_count(output_details, "reasoning_tokens"),
    )


def _message(item: Mapping[str, Any], citations: list[Mapping[str, Any]]) -> AssistantMessage:
    texts: list[str] = []
    refusals: list[str] = []
    content = item.get("content")
    for part in objects_of(content):
        if part.get("type") == "output_text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
            annotations = part.get("annotations")
            if isinstance(annotations, list):
                citations.extend(a for a in annotations if isinstance(a, Mapping))
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            refusals.append(part["refusal"])
    return AssistantMessage(
        content="".join(texts) if texts else None,
        refusal="".join(refusals) if refusals else None,
    )


def _reasoning_text(item: Mapping[str, Any]) -> str:
    pieces: list[str] = []
    for key in ("summary", "content"):
        parts = item.get(key)
        pieces.extend(
            part["text"]
            for part in (parts if isinstance(parts, list) else ())
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return "\n".join(pieces)


def _tool_call(item: Mapping[str, Any]) -> ToolCall:
    arguments = item.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {})
    call_id = item.get("call_id") or item.get("id") or ""
    return ToolCall(id=str(call_id), name=str(item.get("name") or ""), arguments=arguments)


def response_from_payload(
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    secrets: tuple[str, ...] = (),
) -> ResponseResponse:
    """Decode one Responses ``response`` object (a body, or a stream's final event)."""
    if payload.get("status") == "failed" or (
        isinstance(payload.get("error"), Mapping) and payload.get("status") != "completed"
    ):
        raise error_from_payload(
            payload.get("error") or {"message": "response failed"},
            headers,
            provider=provider,
            model=model,
            secrets=secrets,
        )
    output: list[Any] = []
    calls: list[ToolCall] = []
    citations: list[Mapping[str, Any]] = []
    texts: list[str] = []
    reasoning: list[str] = []
    refusals: list[str] = []
    items = payload.get("output")
    for item in objects_of(items):
        kind = item.get("type")
        if kind == "message":
            message = _message(item, citations)
            output.append(message)
            if message.content:
                texts.append(message.content)
            if message.refusal:
                refusals.append(message.refusal)
        elif kind == "function_call":
            call = _tool_call(item)
            output.append(call)
            calls.append(call)
        else:
            if kind == "reasoning":
                text = _reasoning_text(item)
                if text:
                    reasoning.append(text)
            output.append(dict(item))
    incomplete = payload.get("incomplete_details")
    return ResponseResponse(
        id=str(payload.get("id") or ""),
        model=str(payload.get("model") or model),
        provider=provider,
        status=str(payload.get("status") or "completed"),
        output_text="".join(texts),
        output=output,
        tool_calls=calls,
        usage=response_usage(payload.get("usage")),
        incomplete_details=dict(incomplete) if isinstance(incomplete, Mapping) else None,
        citations=citations,
        reasoning="\n".join(reasoning),
        refusal="".join(refusals) if refusals else None,
        previous_response_id=payload.get("previous_response_id") or None,
        request_id=request_id_of(headers),
        headers=headers,
        raw=payload,
    )


# A success has ``"error": null``; an error object or a bare message without ``output`` is an
# error answered with 200 (some compatible servers), never a completed response.
#: Decode a whole ``POST /responses`` answer body.
decode_response = answer_decoder("output", "a response", response_from_payload)


class ResponseStreamDecoder(EventStreamDecoder[ResponseChunk]):
    """Turn the bytes of a streamed Responses answer into :class:`ResponseChunk` values.

    Feed bytes in any split with :meth:`feed`; call :meth:`close` at the end of the body.
    A body that ends before a terminal event is truncated and raises ``ProviderError``.
    """

    what = "Responses stream"

    def _on_event(self, name: str, event: Mapping[str, Any]) -> list[ResponseChunk]:
        kind = str(event.get("type") or name or "")
        if kind == "error":
            self._raise(event.get("error") or event)
        raw_sequence = event.get("sequence_number")
        sequence = raw_sequence if isinstance(raw_sequence, int) else None
        response = event.get("response")
        if kind == "response.failed" or (kind in _TERMINAL and isinstance(response, Mapping)):
            decoded = response_from_payload(
                response if isinstance(response, Mapping) else {"status": "failed"},
                self._headers,
                provider=self._provider,
                model=self._model,
                secrets=self._secrets,
            )
            self.done = True
            return [
                ResponseChunk(
                    type=kind,
                    response=decoded,
                    usage=decoded.usage,
                    sequence_number=sequence,
                    data=event,
                )
            ]
        return [self._delta_chunk(kind, event, sequence)]

    def _delta_chunk(
        self, kind: str, event: Mapping[str, Any], sequence: int | None
    ) -> ResponseChunk:
        text = _str(event.get("delta"))
        raw_item = event.get("item")
        item = raw_item if isinstance(raw_item, Mapping) else None
        raw_index = event.get("output_index")
        index = raw_index if isinstance(raw_index, int) else 0
        delta = ""
        reasoning = ""
        call: ToolCallDelta | None = None
        if kind == "response.output_text.delta":
            delta = text
        elif kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            reasoning = text
        elif kind == "response.function_call_arguments.delta":
            call = ToolCallDelta(index=index, arguments=text)
        elif (
            kind == "response.output_item.added"
            and item is not None
            and item.get("type") == "function_call"
        ):
            call_id = str(item.get("call_id") or item.get("id") or "")
            call = ToolCallDelta(
                index=index,
                id=call_id,
                name=str(item.get("name") or ""),
                arguments=_str(item.get("arguments")),
            )
        return ResponseChunk(
            type=kind,
            delta=delta,
            reasoning_delta=reasoning,
            tool_call_delta=call,
            item=item,
            sequence_number=sequence,
            data=event,
        )
