"""Sans-IO codec for Anthropic's Messages API: typed requests to bodies, bodies to types.

Nothing here does I/O. :func:`encode_chat` builds the JSON body of ``POST /v1/messages``;
:func:`decode_chat` reads a complete answer; :class:`StreamDecoder` is fed server-sent
events (or raw bytes) and returns :class:`ChatChunk` values.

Wire rules this module takes care of, so callers need not:

* system and developer messages become the top-level ``system`` blocks;
* consecutive turns of one role are merged (tool results become ``user`` turns, so a tool
  result followed by a user message is one turn); ``tool_result`` blocks lead their turn;
* every ``tool_use`` must be answered by a ``tool_result`` in the next turn, and the other
  way round; text blocks must hold non-whitespace text;
* ``max_tokens`` is required (defaulted from the model spec);
* Anthropic counts cached prompt tokens apart from ``input_tokens``; :class:`Usage` counts
  them in (see :func:`usage_from`).

JSON mode has no native counterpart here, so it is emulated with a forced tool call: the
tool's ``input_schema`` is the requested schema and its input is returned as the text
content (see :func:`json_tool_name`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import DeveloperMessage
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import ProviderSpec
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import Tool
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.codec import add_turn
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import ServerSentEvent
from lmux_plug.wire import SSEDecoder
from lmux_plug.wire import WireRequest
from lmux_plug.wire import WireResponse
from lmux_plug.wire import error_from_response
from lmux_plug_anthropic._spec import default_max_tokens

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = [
    "CODEC",
    "JSON_TOOL_NAME",
    "REASONING_BUDGETS",
    "AnthropicCodec",
    "StreamDecoder",
    "decode_chat",
    "encode_chat",
    "error_from_event",
    "finish_reason_of",
    "json_tool_name",
    "required_betas",
    "usage_from",
]

PROVIDER = "anthropic"
# The synthetic tool that carries JSON-mode answers. A caller's tool may not use this name.
JSON_TOOL_NAME = "json_response"
# reasoning_effort -> thinking.budget_tokens. 1024 is the API's minimum budget.
REASONING_BUDGETS: Mapping[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
}
# Room left for the answer when max_tokens is raised to fit a thinking budget.
_ANSWER_ROOM = 4096
_MAX_CACHE_BREAKPOINTS = 4
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ID_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EPHEMERAL: Mapping[str, str] = {"type": "ephemeral"}
_STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "pause_turn": FinishReason.OTHER,
}
# Anthropic's error types and the HTTP status each one comes with.
_ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _invalid(message: str, model: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(message, provider=PROVIDER, model=model)


# --------------------------------------------------------------------------- encoding


def json_tool_name(request: ChatRequest) -> str | None:
    """The synthetic tool's name when ``request`` asks for JSON output, else ``None``."""
    if isinstance(request.response_format, (JsonObjectResponseFormat, JsonSchemaResponseFormat)):
        return JSON_TOOL_NAME
    return None


def required_betas(request: ChatRequest) -> tuple[str, ...]:
    """``anthropic-beta`` flags the request needs (file ids need the Files API beta)."""
    for message in request.messages:
        parts = () if not isinstance(message, UserMessage) else message.content
        if not isinstance(parts, str) and any(
            isinstance(p, FileContent) and p.file_id for p in parts
        ):
            return ("files-api-2025-04-14",)
    return ()


def encode_chat(request: ChatRequest, spec: ProviderSpec) -> dict[str, Any]:
    """Build the JSON body of ``POST /v1/messages`` for ``request``.

    Raises :class:`InvalidRequestError` naming the problem for anything the API would
    refuse and that can be seen before sending. The request (and every dict in it) is
    left untouched: the body is built from copies.
    """
    model = request.model
    system, turns = _encode_messages(request.messages, model)
    body: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        body["system"] = system
    _count_cache_breakpoints(system, turns, model)

    thinking_budget = _thinking_budget(request)
    max_tokens = request.max_tokens
    if max_tokens is None:
        max_tokens = default_max_tokens(spec, model)
        if thinking_budget is not None and max_tokens <= thinking_budget:
            declared = spec.model(model)
            if declared is not None and declared.max_output_tokens:
                # The model's output limit is a hard one (Opus 4: 32,000 < the xhigh
                # budget): stay at it, and leave the answer its room inside it.
                thinking_budget = max(max_tokens - _ANSWER_ROOM, REASONING_BUDGETS["minimal"])
            else:
                max_tokens = thinking_budget + _ANSWER_ROOM
    if not _positive_int(max_tokens):
        msg = f"max_tokens must be a positive integer, got {max_tokens!r}"
        raise _invalid(msg, model)
    if thinking_budget is not None:
        if max_tokens <= thinking_budget:
            # Shrink the budget to fit: Anthropic requires budget_tokens < max_tokens.
            thinking_budget = max_tokens - 1
            if thinking_budget < REASONING_BUDGETS["minimal"]:
                msg = (
                    f"reasoning_effort={request.reasoning_effort!r} needs max_tokens > "
                    f"{REASONING_BUDGETS['minimal']} (Anthropic's minimum thinking budget), "
                    f"got max_tokens={max_tokens}"
                )
                raise _invalid(msg, model)
        body["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    body["max_tokens"] = max_tokens

    if request.temperature is not None:
        if not 0.0 <= request.temperature <= 1.0:
            msg = f"temperature must be between 0 and 1 for Anthropic, got {request.temperature}"
            raise _invalid(msg, model)
        if thinking_budget is not None and request.temperature != 1.0:
            raise _invalid("temperature cannot be changed while thinking is enabled", model)
        body["temperature"] = request.temperature
    if request.top_p is not None:
        if not 0.0 <= request.top_p <= 1.0:
            msg = f"top_p must be between 0 and 1, got {request.top_p}"
            raise _invalid(msg, model)
        body["top_p"] = request.top_p
    if request.stop:
        stops = list(request.stop)
        if not all(_has_text(s) for s in stops):
            raise _invalid("stop sequences must contain non-whitespace text", model)
        body["stop_sequences"] = stops
    if request.user:
        body["metadata"] = {"user_id": request.user}

    _encode_tools(request, body, thinking=thinking_budget is not None)
    # Provider-specific fields last: the caller's explicit choice wins.
    body.update(request.extra)
    return body


# attrs does not check types at run time, so values from untyped callers are checked here.
def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _has_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _thinking_budget(request: ChatRequest) -> int | None:
    effort = request.reasoning_effort
    if effort is None or effort == "none":
        return None
    budget = REASONING_BUDGETS.get(effort)
    if budget is None:
        known = ", ".join(["none", *REASONING_BUDGETS])
        msg = f"unknown reasoning_effort {effort!r} (known: {known})"
        raise _invalid(msg, request.model)
    return budget


def _text_block(text: str, *, cache: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = dict(_EPHEMERAL)
    return block


def _encode_messages(
    messages: Sequence[Any], model: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if isinstance(message, (SystemMessage, DeveloperMessage)):
            if not _is_str(message.content):
                msg = f"message {position}: system content must be text"
                raise _invalid(msg, model)
            if message.content.strip():
                cache = isinstance(message, SystemMessage) and message.cache_control
                system.append(_text_block(message.content, cache=cache))
            continue
        if isinstance(message, UserMessage):
            role, blocks = "user", _user_blocks(message, position, model)
        elif isinstance(message, AssistantMessage):
            role, blocks = "assistant", _assistant_blocks(message, position, model)
        elif isinstance(message, ToolMessage):
            role, blocks = "user", [_tool_result_block(message, position, model)]
        else:
            msg = f"message {position}: unsupported message type {type(message).__name__}"
            raise _invalid(msg, model)
        if not blocks:
            continue
        add_turn(turns, role, blocks)
    if not turns:
        raise _invalid("at least one non-empty user message is required", model)
    if turns[0]["role"] != "user":
        raise _invalid("Anthropic requires the conversation to start with a user message", model)
    for turn in turns:
        if turn["role"] == "user":
            # tool_result blocks must lead the user turn that answers a tool call.
            content = turn["content"]
            turn["content"] = [b for b in content if b["type"] == "tool_result"] + [
                b for b in content if b["type"] != "tool_result"
            ]
    last = turns[-1]
    if last["role"] == "assistant":
        _strip_trailing_whitespace(last)
    _check_tool_pairs(turns, model)
    return system, turns


def _strip_trailing_whitespace(turn: dict[str, Any]) -> None:
    # A final (prefilled) assistant turn may not end with whitespace.
    blocks = turn["content"]
    if blocks and blocks[-1]["type"] == "text":
        text = blocks[-1]["text"].rstrip()
        blocks[-1] = {**blocks[-1], "text": text}


def _user_blocks(message: UserMessage, position: int, model: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        blocks = [_text_block(message.content)] if message.content.strip() else []
    else:
        blocks = []
        for part in message.content:
            block = _part_block(part, position, model)
            if block is not None:
                blocks.append(block)
    if message.cache_control and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": dict(_EPHEMERAL)}
    return blocks


def _part_block(part: Any, position: int, model: str) -> dict[str, Any] | None:
    if isinstance(part, TextContent):
        if not part.text.strip():
            return None
        return _text_block(part.text, cache=part.cache_control)
    if isinstance(part, ImageContent):
        return {"type": "image", "source": _image_source(part, position, model)}
    if isinstance(part, FileContent):
        return _document_block(part, position, model)
    if isinstance(part, AudioContent):
        msg = f"message {position}: Anthropic's Messages API takes no audio"
        raise _invalid(msg, model)
    msg = f"message {position}: unsupported content part {type(part).__name__}"
    raise _invalid(msg, model)


def _image_source(part: ImageContent, position: int, model: str) -> dict[str, Any]:
    url = part.url
    if url.startswith("data:"):
        media_type, data = part.media_type, part.base64_data
        if data is None or media_type is None:
            msg = f"message {position}: image data URL must be base64"
            raise _invalid(msg, model)
        if media_type not in _IMAGE_TYPES:
            msg = (
                f"message {position}: image type {media_type!r} is not supported "
                f"(use one of {', '.join(sorted(_IMAGE_TYPES))})"
            )
            raise _invalid(msg, model)
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    msg = f"message {position}: image URL must be https:// or a data: URL"
    raise _invalid(msg, model)


def _document_block(part: FileContent, position: int, model: str) -> dict[str, Any]:
    if part.file_id:
        source: dict[str, Any] = {"type": "file", "file_id": part.file_id}
    elif part.data is None:
        msg = f"message {position}: a file part needs data or a file_id"
        raise _invalid(msg, model)
    elif part.media_type == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": part.data}
    elif part.media_type == "text/plain":
        try:
            text = base64.b64decode(part.data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            msg = f"message {position}: text/plain file data must be base64 of UTF-8 text"
            raise _invalid(msg, model) from exc
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        msg = (
            f"message {position}: document type {part.media_type!r} is not supported "
            "(application/pdf or text/plain)"
        )
        raise _invalid(msg, model)
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


def _tool_id(raw: str, position: int, model: str) -> str:
    # Anthropic ids match ^[a-zA-Z0-9_-]+$; ids from other providers are made to fit, the
    # same way on both sides (tool_use and tool_result), so pairs still match.
    if not raw:
        msg = f"message {position}: tool call id must not be empty"
        raise _invalid(msg, model)
    return _ID_BAD_CHARS.sub("_", raw)


def _assistant_blocks(message: AssistantMessage, position: int, model: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.thinking:
        if block.redacted:
            blocks.append({"type": "redacted_thinking", "data": block.text})
        elif block.signature:
            blocks.append(
                {"type": "thinking", "thinking": block.text, "signature": block.signature}
            )
        # Unsigned reasoning (from another provider) cannot be verified by Anthropic: drop it.
    if message.content and message.content.strip():
        blocks.append(_text_block(message.content))
    blocks.extend(
        {
            "type": "tool_use",
            "id": _tool_id(call.id, position, model),
            "name": _checked_name(call.name, f"message {position}: tool call", model),
            "input": _arguments(call, position, model),
        }
        for call in message.tool_calls
    )
    return blocks


def _arguments(call: ToolCall, position: int, model: str) -> dict[str, Any]:
    if not call.arguments.strip():
        return {}
    try:
        value = json.loads(call.arguments)
    except ValueError as exc:
        msg = f"message {position}: arguments of tool call {call.id!r} are not valid JSON"
        raise _invalid(msg, model) from exc
    if not isinstance(value, dict):
        msg = f"message {position}: arguments of tool call {call.id!r} must be a JSON object"
        raise _invalid(msg, model)
    return value


def _tool_result_block(message: ToolMessage, position: int, model: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": _tool_id(message.tool_call_id, position, model),
    }
    if message.content.strip():
        block["content"] = message.content
    if message.is_error:
        block["is_error"] = True
    return block


def _check_tool_pairs(turns: list[dict[str, Any]], model: str) -> None:
    seen: set[str] = set()
    for index, turn in enumerate(turns):
        if turn["role"] == "assistant":
            ids = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
            for call_id in ids:
                if call_id in seen:
                    msg = f"tool call id {call_id!r} is used twice"
                    raise _invalid(msg, model)
                seen.add(call_id)
            answered = set()
            if index + 1 < len(turns):
                answered = {
                    b["tool_use_id"]
                    for b in turns[index + 1]["content"]
                    if b["type"] == "tool_result"
                }
            missing = [i for i in ids if i not in answered]
            if missing:
                msg = f"tool calls {missing} have no tool result message right after them"
                raise _invalid(msg, model)
        else:
            previous = turns[index - 1] if index else None
            offered = (
                {b["id"] for b in previous["content"] if b["type"] == "tool_use"}
                if previous is not None
                else set()
            )
            for block in turn["content"]:
                if block["type"] == "tool_result" and block["tool_use_id"] not in offered:
                    msg = (
                        f"tool result for {block['tool_use_id']!r} does not answer a tool "
                        "call of the assistant message right before it"
                    )
                    raise _invalid(msg, model)


def _count_cache_breakpoints(
    system: list[dict[str, Any]], turns: list[dict[str, Any]], model: str
) -> None:
    count = sum("cache_control" in b for b in system)
    count += sum("cache_control" in b for turn in turns for b in turn["content"])
    if count > _MAX_CACHE_BREAKPOINTS:
        msg = (
            f"Anthropic allows at most {_MAX_CACHE_BREAKPOINTS} cache_control markers, got {count}"
        )
        raise _invalid(msg, model)


def _checked_name(name: str, what: str, model: str) -> str:
    if not _NAME.match(name):
        msg = f"{what} name {name!r} must match ^[a-zA-Z0-9_-]{{1,64}}$"
        raise _invalid(msg, model)
    return name


def _tool_definition(tool: Tool, model: str) -> dict[str, Any]:
    function = tool.function
    name = _checked_name(function.name, "tool", model)
    if name == JSON_TOOL_NAME:
        msg = f"tool name {JSON_TOOL_NAME!r} is reserved for JSON mode"
        raise _invalid(msg, model)
    schema = dict(function.parameters)
    schema_type = schema.setdefault("type", "object")
    if schema_type != "object":
        msg = f"parameters of tool {name!r} must be a JSON schema of type 'object'"
        raise _invalid(msg, model)
    definition: dict[str, Any] = {"name": name, "input_schema": schema}
    if function.description:
        definition["description"] = function.description
    return definition


def _json_tool(request: ChatRequest) -> dict[str, Any]:
    response_format = request.response_format
    if isinstance(response_format, JsonSchemaResponseFormat):
        schema = dict(response_format.schema)
        if schema.get("type", "object") != "object":
            # Tool inputs are always JSON objects, so only object schemas can be emulated.
            msg = "JSON mode on Anthropic needs a schema of type 'object'"
            raise _invalid(msg, request.model)
        schema.setdefault("type", "object")
        description = response_format.description or f"Return the answer as {response_format.name}."
    else:
        schema = {"type": "object", "additionalProperties": True}
        description = "Return the answer as a JSON object."
    return {
        "name": JSON_TOOL_NAME,
        "description": f"{description} Always answer by calling this tool.",
        "input_schema": schema,
    }


def _encode_tools(request: ChatRequest, body: dict[str, Any], *, thinking: bool) -> None:
    model = request.model
    tools = [_tool_definition(t, model) for t in request.tools or ()]
    names = {t["name"] for t in tools}
    if len(names) != len(tools):
        raise _invalid("tool names must be unique", model)
    choice = request.tool_choice
    json_mode = json_tool_name(request) is not None
    if json_mode:
        tools.append(_json_tool(request))
    if choice is not None and choice.mode == "function" and choice.function_name not in names:
        msg = f"tool_choice names {choice.function_name!r}, which is not among the tools"
        raise _invalid(msg, model)
    if not tools:
        if choice is not None and choice.mode in ("required", "function"):
            msg = f"tool_choice={choice.mode!r} needs tools"
            raise _invalid(msg, model)
        return
    body["tools"] = tools
    if choice is not None:
        if thinking and choice.mode in ("required", "function"):
            msg = "forcing a tool call (tool_choice required/function) is not allowed with thinking"
            raise _invalid(msg, model)
        body["tool_choice"] = _tool_choice(choice.mode, choice.function_name)
    elif json_mode:
        if thinking:
            # Forced tool use is refused with thinking on: offer the tool and ask for it.
            body["tool_choice"] = {"type": "auto"}
            instruction = _text_block(f"Answer by calling the {JSON_TOOL_NAME} tool.")
            body["system"] = [*body.get("system", []), instruction]
        elif len(tools) == 1:
            body["tool_choice"] = {
                "type": "tool",
                "name": JSON_TOOL_NAME,
                "disable_parallel_tool_use": True,
            }
        else:
            body["tool_choice"] = {"type": "any"}


def _tool_choice(mode: str, name: str | None) -> dict[str, Any]:
    if mode == "function":
        return {"type": "tool", "name": name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[mode]}


# --------------------------------------------------------------------------- decoding


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from(raw: Mapping[str, Any] | None) -> Usage:
    """Normalise Anthropic usage: ``input_tokens`` here includes the cached tokens."""
    if not isinstance(raw, Mapping):
        return Usage()
    uncached = _int(raw.get("input_tokens"))
    cache_read = _int(raw.get("cache_read_input_tokens"))
    cache_creation = _int(raw.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=uncached + cache_read + cache_creation,
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
    )


def finish_reason_of(stop_reason: Any) -> FinishReason:
    """Map Anthropic's ``stop_reason`` to :class:`FinishReason` (unknown -> ``OTHER``)."""
    if not isinstance(stop_reason, str):
        return FinishReason.OTHER
    return _STOP_REASONS.get(stop_reason, FinishReason.OTHER)


def _malformed(what: str, model: str | None) -> ProviderError:
    return ProviderError(f"malformed Anthropic response: {what}", provider=PROVIDER, model=model)


def decode_chat(
    body: Any,
    headers: Mapping[str, str],
    *,
    json_tool: str | None = None,
    provider: str = PROVIDER,
    model: str | None = None,
) -> ChatResponse:
    """Read a complete ``/v1/messages`` answer.

    ``json_tool`` names the synthetic JSON-mode tool: its input becomes the text content.
    ``headers`` (lower-case names) are kept on the response; ``request-id`` is the id.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = lower.get("request-id") or lower.get("x-request-id")
    if isinstance(body, Mapping) and body.get("type") == "error":
        raise error_from_event(body, provider=provider, model=model, request_id=request_id)
    if not isinstance(body, Mapping) or not isinstance(body.get("content"), list):
        raise _malformed("no content list", model)
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingBlock] = []
    json_text: str | None = None
    for block in body["content"]:
        if not isinstance(block, Mapping):
            raise _malformed("content block is not an object", model)
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "thinking":
            # A signature goes back to the API verbatim: only a string is one.
            signature = block.get("signature")
            signed = signature if isinstance(signature, str) and signature else None
            thinking.append(ThinkingBlock(str(block.get("thinking", "")), signed))
        elif kind == "redacted_thinking":
            thinking.append(ThinkingBlock(str(block.get("data", "")), redacted=True))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            if json_tool is not None and block.get("name") == json_tool:
                json_text = arguments
                continue
            calls.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")), arguments))
        # Server-side tool blocks (web search ...) are results Anthropic already used; they
        # stay in ``raw``.
    stop_reason = body.get("stop_reason")
    finish = finish_reason_of(stop_reason)
    content = json_text if json_text is not None else ("".join(texts) if texts else None)
    if json_text is not None and not calls and finish is FinishReason.TOOL_CALLS:
        finish = FinishReason.STOP
    return ChatResponse(
        content=content,
        model=str(body.get("model") or model or ""),
        provider=provider,
        finish_reason=finish,
        tool_calls=calls,
        usage=usage_from(body.get("usage")),
        request_id=request_id,
        thinking=thinking,
        refusal=content if stop_reason == "refusal" else None,
        headers=lower,
        raw=body,
    )


def error_from_event(
    data: Any,
    *,
    provider: str = PROVIDER,
    model: str | None = None,
    request_id: str | None = None,
) -> LmuxError:
    """The :class:`LmuxError` for an ``error`` event in a stream (e.g. ``overloaded_error``)."""
    error = data.get("error") if isinstance(data, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    status = _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    if isinstance(data, Mapping) and isinstance(data.get("request_id"), str):
        request_id = request_id or data["request_id"]
    raw = json.dumps(data) if not isinstance(data, str) else data
    return error_from_response(
        status, {}, raw, provider=provider, model=model, request_id=request_id
    )


@attrs.define
class _Block:
    kind: str
    tool_index: int | None = None
    text: str = ""
    signature: str | None = None
    is_json: bool = False
    arguments: str = ""


class StreamDecoder:
    """Turn Anthropic's server-sent events into :class:`ChatChunk` values.

    Feed events with :meth:`feed` (or bytes with :meth:`feed_bytes`), then call
    :meth:`close` at the end of the body: it raises :class:`ProviderError` when the stream
    stopped before ``message_stop``. Exactly one chunk carries ``finish_reason``, with the
    whole usage. An ``error`` event raises the matching :class:`LmuxError` from
    :meth:`feed`.
    """

    def __init__(
        self,
        *,
        provider: str = PROVIDER,
        model: str | None = None,
        request_id: str | None = None,
        json_tool: str | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.json_tool = json_tool
        self.done = False
        self._sse = SSEDecoder()
        self._blocks: dict[int, _Block] = {}
        self._tool_count = 0
        self._usage: dict[str, int] = {}
        self._stop_reason: Any = None
        self._started = False
        # JSON mode: text before the JSON tool call is held back (see _text).
        self._held: list[str] = []
        self._json_seen = False
        self._real_tool_calls = False
        self._pending: LmuxError | None = None

    # -- public -----------------------------------------------------------------------

    def feed_bytes(self, data: bytes) -> list[ChatChunk]:
        """Add raw body bytes (any split); return the chunks they complete."""
        self.raise_pending()
        chunks: list[ChatChunk] = []
        for event in self._sse.feed(data):
            try:
                chunks.extend(self.feed(event))
            except LmuxError as exc:
                if not chunks:
                    raise
                # Hand out what came before the error first; the next call raises it.
                self._pending = exc
                break
        return chunks

    def raise_pending(self) -> None:
        """Raise an error event that :meth:`feed_bytes` held back behind earlier chunks."""
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def feed(self, event: ServerSentEvent) -> list[ChatChunk]:
        """Decode one event; return the chunks it yields (often one, sometimes none)."""
        if self.done:
            return []
        try:
            data = json.loads(event.data)
        except ValueError as exc:
            msg = f"malformed JSON in stream event {event.event!r}: {event.data[:200]!r}"
            raise _malformed(msg, self.model) from exc
        if not isinstance(data, Mapping):
            msg = f"stream event {event.event!r} is not an object"
            raise _malformed(msg, self.model)
        kind = data.get("type") if isinstance(data.get("type"), str) else event.event
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:  # ping and event types added after this code was written
            return []
        chunks: list[ChatChunk] = handler(data)
        return chunks

    def close(self) -> list[ChatChunk]:
        """End of body: flush buffered bytes; a stream without ``message_stop`` raises."""
        self.raise_pending()
        chunks: list[ChatChunk] = []
        for event in self._sse.flush():
            chunks.extend(self.feed(event))
        if not self.done:
            msg = "stream ended before message_stop (truncated response)"
            raise ProviderError(
                msg, provider=self.provider, model=self.model, request_id=self.request_id
            )
        return chunks

    # -- events -----------------------------------------------------------------------

    def _chunk(self, **fields: Any) -> ChatChunk:
        return ChatChunk(
            model=self.model, provider=self.provider, request_id=self.request_id, **fields
        )

    def _count(self, raw: Any) -> None:
        if not isinstance(raw, Mapping):
            return
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = raw.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                # message_delta repeats cumulative counts: the last value wins.
                self._usage[key] = value

    def _on_message_start(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        message = data.get("message")
        if not isinstance(message, Mapping):
            raise _malformed("message_start without a message", self.model)
        self._started = True
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        self._count(message.get("usage"))
        return []

    def _on_content_block_start(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        index, block = data.get("index"), data.get("content_block")
        if not isinstance(index, int) or not isinstance(block, Mapping):
            raise _malformed("content_block_start without index or block", self.model)
        kind = str(block.get("type", ""))
        state = _Block(kind)
        self._blocks[index] = state
        if kind == "tool_use":
            name = str(block.get("name", ""))
            if self.json_tool is not None and name == self.json_tool:
                state.is_json = True
                self._json_seen = True
                self._held.clear()  # preamble text is not part of the JSON answer
                return []
            self._real_tool_calls = True
            state.tool_index = self._tool_count
            self._tool_count += 1
            delta = ToolCallDelta(index=state.tool_index, id=str(block.get("id", "")), name=name)
            return [self._chunk(tool_call_deltas=(delta,))]
        if kind == "text" and block.get("text"):
            return self._text(str(block["text"]))
        if kind == "thinking" and block.get("thinking"):
            state.text = str(block["thinking"])
            return [self._chunk(thinking_delta=state.text)]
        if kind == "redacted_thinking":
            state.text = str(block.get("data", ""))
        return []

    def _text(self, text: str) -> list[ChatChunk]:
        if not text:
            return []
        if self.json_tool is not None:
            if not self._json_seen:
                self._held.append(text)
            return []
        return [self._chunk(delta=text)]

    def _on_content_block_delta(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        index, delta = data.get("index"), data.get("delta")
        if not isinstance(index, int) or not isinstance(delta, Mapping):
            raise _malformed("content_block_delta without index or delta", self.model)
        state = self._blocks.get(index)
        if state is None:
            msg = f"delta for unknown content block {index}"
            raise _malformed(msg, self.model)
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(str(delta.get("text", "")))
        if kind == "thinking_delta":
            piece = str(delta.get("thinking", ""))
            state.text += piece
            return [self._chunk(thinking_delta=piece)] if piece else []
        if kind == "signature_delta":
            state.signature = (state.signature or "") + str(delta.get("signature", ""))
            return []
        if kind == "input_json_delta":
            piece = str(delta.get("partial_json", ""))
            state.arguments += piece
            if not piece or (state.tool_index is None and not state.is_json):
                return []  # server tool input (web search query ...): not the caller's
            if state.is_json:
                return [self._chunk(delta=piece)]
            tool_delta = ToolCallDelta(index=state.tool_index or 0, arguments=piece)
            return [self._chunk(tool_call_deltas=(tool_delta,))]
        return []  # citations_delta and future delta kinds

    def _on_content_block_stop(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        index = data.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        if state is None:
            return []
        if state.kind == "thinking":
            block = ThinkingBlock(state.text, state.signature or None)
            return [self._chunk(thinking=(block,))]
        if state.kind == "redacted_thinking":
            return [self._chunk(thinking=(ThinkingBlock(state.text, redacted=True),))]
        if state.kind == "tool_use" and not state.arguments.strip():
            # A tool called without input streams no JSON at all; "{}" keeps it parseable.
            if state.is_json:
                return [self._chunk(delta="{}")]
            if state.tool_index is not None:
                tool_delta = ToolCallDelta(index=state.tool_index, arguments="{}")
                return [self._chunk(tool_call_deltas=(tool_delta,))]
        return []

    def _on_message_delta(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        delta = data.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        self._count(data.get("usage"))
        return []

    def _on_message_stop(self, _data: Mapping[str, Any]) -> list[ChatChunk]:
        if not self._started:
            raise _malformed("message_stop before message_start", self.model)
        self.done = True
        chunks: list[ChatChunk] = []
        if self._held and not self._json_seen:
            # JSON mode but the model answered in text: give the text after all.
            chunks.append(self._chunk(delta="".join(self._held)))
            self._held.clear()
        finish = finish_reason_of(self._stop_reason)
        if self._json_seen and not self._real_tool_calls and finish is FinishReason.TOOL_CALLS:
            finish = FinishReason.STOP
        chunks.append(self._chunk(finish_reason=finish, usage=usage_from(self._usage)))
        return chunks

    def _on_error(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        raise error_from_event(
            data, provider=self.provider, model=self.model, request_id=self.request_id
        )


# --------------------------------------------------------------------------- the codec

_MESSAGES_PATH = "v1/messages"


class _BytesDecoder:
    """:class:`StreamDecoder` seen with the driver's shape: bytes in, chunks out."""

    __slots__ = ("_events",)

    def __init__(self, events: StreamDecoder) -> None:
        self._events = events

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._events.feed_bytes(data)

    def close(self) -> list[ChatChunk]:
        return self._events.close()


class AnthropicCodec(BaseCodec):
    """The Messages API wire for :mod:`lmux_plug.wire`."""

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """``POST /v1/messages``, with the ``anthropic-beta`` flags the request needs."""
        body = encode_chat(request, provider.spec)
        headers: dict[str, str] = {}
        betas = required_betas(request)
        if betas:
            present = provider.auth_headers().get("anthropic-beta")
            headers["anthropic-beta"] = ",".join([present, *betas] if present else betas)
        if stream:
            body["stream"] = True
            headers["accept"] = "text/event-stream"
        return WireRequest(provider.url(_MESSAGES_PATH), body, headers)

    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        """The complete answer; an error object in a 200 body raises."""
        return decode_chat(
            response.json(provider=provider.name, model=request.model),
            response.headers,
            json_tool=json_tool_name(request),
            provider=provider.name,
            model=request.model,
        )

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> _BytesDecoder:
        """A decoder of the event stream of one answer."""
        return _BytesDecoder(
            StreamDecoder(
                provider=provider.name,
                model=request.model,
                request_id=headers.get("request-id"),
                json_tool=json_tool_name(request),
            )
        )


#: The codec instance the plugin's hooks drive.
CODEC = AnthropicCodec()
