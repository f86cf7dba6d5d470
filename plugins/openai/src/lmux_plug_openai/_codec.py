"""Sans-IO codec for the OpenAI wire: Chat Completions and embeddings.

Typed requests in, JSON-ready dicts out; response bytes in, typed responses out. Nothing
here does I/O, so the same code serves the async client, replay tests and property tests
that split a stream at arbitrary byte boundaries.

Streams (:class:`ChatStreamDecoder`): content, reasoning and tool-call fragments are
emitted as they arrive. The terminal chunk is emitted **once**, when ``data: [DONE]``
arrives (or at the end of the body if ``finish_reason`` was seen without ``[DONE]``). It
carries ``finish_reason`` and the usage, merged from wherever the provider sent it: OpenAI's
usage-only chunk with empty ``choices`` (after the finish chunk), usage on the finish chunk
(DeepSeek, Mistral), Groq's ``x_groq.usage``. A body that ends before ``[DONE]`` and before
any ``finish_reason`` is truncated and raises :class:`~lmux_plug.errors.ProviderError`; an
error object inside a chunk or an SSE ``event: error`` raises the matching error class.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeGuard

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import Cost
from lmux_plug import DeveloperMessage
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import ProviderSpec
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import TextResponseFormat
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolChoice
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.convert import message_to_openai
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import ServerSentEvent
from lmux_plug.wire import SSEDecoder
from lmux_plug.wire import WireRequest
from lmux_plug.wire import WireResponse
from lmux_plug.wire import error_from_response
from lmux_plug_openai._client import endpoint

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = [
    "CODEC",
    "ChatStreamDecoder",
    "OpenAICodec",
    "cost_of",
    "decode_chat",
    "decode_embed",
    "encode_chat",
    "encode_embed",
    "error_from_payload",
    "finish_reason_of",
    "is_reasoning_model",
    "loads_json",
    "request_id_of",
    "usage_of",
]

# Function and schema names OpenAI accepts; compatible servers accept at least these.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# OpenAI reasoning models take max_completion_tokens and reject max_tokens.
_REASONING_MODEL = re.compile(r"^(?:o\d+|gpt-5)(?:$|[-.:_])")
_IMAGE_SCHEMES = ("https://", "http://", "data:")
_NON_SSE_LIMIT = 1 << 20  # bytes of a non-SSE answer kept to report what it was
_JSON_NUMBERS = frozenset({float, int})  # the types json.loads gives numbers

_FINISH = {
    "stop": FinishReason.STOP,
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "eos": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "max_tokens": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "tool_use": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
    "insufficient_system_resource": FinishReason.ERROR,
}
# Status codes for error objects that arrive without one (inside a 200 stream).
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "invalid_request": 400,
    "bad_request": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "overloaded_error": 529,
    "server_error": 500,
    "api_error": 500,
    "service_unavailable": 503,
}


# --------------------------------------------------------------------------- helpers


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is an OpenAI reasoning model (o1, o3, o4-mini, gpt-5, ...)."""
    return _REASONING_MODEL.match(model.rsplit("/", 1)[-1]) is not None


def _int(value: Any) -> int:
    """Read a token count from the wire: missing, null or odd values count as 0."""
    if type(value) is int:  # what JSON gives; bool and int subclasses take the checks below
        return max(0, value)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    return 0


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, sparing what parsed JSON holds the slow ABC check.

    Decoding asks this of nearly every value, and most are a plain dict or ``None``.
    """
    if type(value) is dict:
        return True
    return value is not None and isinstance(value, Mapping)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if _is_mapping(value) else {}


def usage_of(raw: Any) -> Usage | None:
    """Normalise an OpenAI-style ``usage`` object (and the dialects of compatible servers)."""
    if not _is_mapping(raw):
        return None
    prompt = _mapping(raw.get("prompt_tokens_details"))
    completion = _mapping(raw.get("completion_tokens_details"))
    cached = prompt.get("cached_tokens")
    if cached is None:
        # DeepSeek reports prompt_cache_hit_tokens; Together a top-level cached_tokens.
        cached = raw.get("prompt_cache_hit_tokens", raw.get("cached_tokens"))
    return Usage(
        input_tokens=_int(raw.get("prompt_tokens")),
        output_tokens=_int(raw.get("completion_tokens")),
        cache_read_tokens=_int(cached),
        reasoning_tokens=_int(completion.get("reasoning_tokens")),
    )


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        # Through str, so 0.00435825 stays 0.00435825 rather than its binary expansion.
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() and result >= 0 else None


def cost_of(raw: Any) -> Cost | None:
    """Read the USD cost a provider reports in ``usage.cost`` (OpenRouter).

    ``cost_details.upstream_inference_prompt_cost`` becomes the input part and the rest of
    ``cost`` the output part, so ``Cost.total`` equals the reported figure exactly.
    """
    usage = _mapping(raw)
    total = _decimal(usage.get("cost"))
    if total is None:
        return None
    prompt = _decimal(_mapping(usage.get("cost_details")).get("upstream_inference_prompt_cost"))
    if prompt is None or prompt > total:
        return Cost(output=total)
    return Cost(input=prompt, output=total - prompt)


def finish_reason_of(raw: Any, *, has_tool_calls: bool = False) -> FinishReason:
    """Map a wire ``finish_reason`` to :class:`FinishReason` (unknown values: ``OTHER``)."""
    if raw is None:
        return FinishReason.TOOL_CALLS if has_tool_calls else FinishReason.STOP
    return _FINISH.get(str(raw).lower(), FinishReason.OTHER)


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """Return the provider's request id from the response headers."""
    return headers.get("x-request-id") or headers.get("request-id") or None


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


# ``json.loads`` is this decoder's ``raw_decode`` plus two regular-expression scans for
# surrounding whitespace; for a 200-byte stream chunk those scans were a third of the
# decoding time, and they are a fixed cost on every whole answer too.
_RAW_DECODE = json.JSONDecoder().raw_decode


def loads_json(body: str | bytes | bytearray) -> Any:
    """``json.loads(body)``, cheaper for a value that starts at the first character.

    Same value and same errors as ``json.loads``: a body the fast path does not take
    whole (leading whitespace, extra data, malformed JSON) goes through ``json.loads``.
    Bytes are decoded as ``json.loads`` decodes them (UTF-8, -16 or -32).
    """
    text = body
    if not isinstance(text, str):
        try:
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        except UnicodeDecodeError:
            return json.loads(body)
    try:
        value, end = _RAW_DECODE(text)
    except ValueError:
        return json.loads(body)
    # Trailing JSON whitespace (" \t\n\r") is allowed, as json.loads allows it.
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return json.loads(body)
    return value


def _loads(body: bytes | str | Mapping[str, Any], provider: str, model: str | None) -> Any:
    if not isinstance(body, (bytes, bytearray, str)):
        return body  # already parsed
    try:
        return loads_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"malformed JSON from {provider}: {body[:200]!r}"
        raise ProviderError(msg, provider=provider, model=model) from exc


def _status_of(error: Mapping[str, Any]) -> int:
    for key in ("status_code", "status", "code"):
        value = error.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
            return value
    for key in ("type", "code", "status"):
        status = _STATUS_BY_TYPE.get(str(error.get(key) or "").lower())
        if status is not None:
            return status
    return 500


def error_from_payload(
    payload: Any,
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str | None,
    secrets: tuple[str, ...] = (),
) -> LmuxError:
    """Build the :class:`LmuxError` for an error object that came with a 200 answer.

    Used for ``{"error": {...}}`` inside a stream chunk (OpenRouter, OpenAI), a Groq
    ``event: error`` and a 200 JSON body that is an error. The status is read from the
    object (``status_code``, numeric ``code``) or inferred from its ``type``.
    """
    error = payload.get("error", payload) if isinstance(payload, Mapping) else payload
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, Mapping):
        error = {"message": str(error)}
    status = _status_of(error)
    body = json.dumps({"error": dict(error)}, default=str)
    return error_from_response(
        status,
        headers,
        body,
        provider=provider,
        model=model,
        request_id=request_id_of(headers),
        secrets=secrets,
    )


# --------------------------------------------------------------------------- encoding


def _bad(message: str, index: int | None = None) -> InvalidRequestError:
    where = f"messages[{index}]: " if index is not None else ""
    return InvalidRequestError(where + message)


def _check_part(part: Any, index: int) -> None:
    if isinstance(part, TextContent):
        return
    if isinstance(part, ImageContent):
        if not part.url.startswith(_IMAGE_SCHEMES):
            msg = f"image url must be https:, http: or data:, got {part.url[:40]!r}"
            raise _bad(msg, index)
        return
    if isinstance(part, AudioContent):
        if not part.data:
            raise _bad("audio part has no data", index)
        return
    if isinstance(part, FileContent):
        if not part.data and not part.file_id:
            raise _bad("file part needs data or file_id", index)
        return
    msg = f"unsupported content part {type(part).__name__}"
    raise _bad(msg, index)


def _message(message: Any, index: int, *, developer_role: bool) -> dict[str, Any]:
    if isinstance(message, UserMessage):
        if not isinstance(message.content, str):
            if not message.content:
                raise _bad("user content must be a string or a non-empty list of parts", index)
            for part in message.content:
                _check_part(part, index)
    elif isinstance(message, AssistantMessage):
        for call in message.tool_calls:
            if not _NAME.match(call.name):
                msg = f"tool call name {call.name!r} must match {_NAME.pattern}"
                raise _bad(msg, index)
    elif isinstance(message, ToolMessage):
        if not message.tool_call_id:
            raise _bad("a tool message needs tool_call_id", index)
    elif isinstance(message, DeveloperMessage):
        if not developer_role:
            # Most compatible servers know only "system"; OpenAI treats both alike.
            return {"role": "system", "content": message.content}
    elif not isinstance(message, SystemMessage):
        msg = f"a message must be a Message, got {type(message).__name__}"
        raise _bad(msg, index)
    out = message_to_openai(message)
    empty = out["content"] is None and not out.get("tool_calls") and not out.get("refusal")
    if isinstance(message, AssistantMessage) and empty:
        # An assistant turn needs content or tool calls; an empty one is still a turn.
        out["content"] = ""
    return out


def _tool(tool: Any) -> dict[str, Any]:
    function = tool.function
    if not _NAME.match(function.name):
        msg = f"tool name {function.name!r} must match {_NAME.pattern}"
        raise InvalidRequestError(msg)
    out: dict[str, Any] = {"name": function.name, "parameters": dict(function.parameters)}
    if function.description is not None:
        out["description"] = function.description
    if function.strict is not None:
        out["strict"] = function.strict
    return {"type": "function", "function": out}


def _tool_choice_into(body: dict[str, Any], choice: ToolChoice, *, offered: bool) -> None:
    """Set ``body["tool_choice"]``; ``offered``: the request offers tools."""
    if choice.mode == "function" and not choice.function_name:
        msg = "tool_choice 'function' needs a function name"
        raise InvalidRequestError(msg)
    if not offered:
        # The API refuses any tool_choice without tools (400). Without tools auto and none
        # ask nothing of the model, so they are left out; a forced call cannot be made.
        if choice.mode in ("required", "function"):
            msg = f"tool_choice {choice.mode!r} forces a tool call, but no tools were given"
            raise InvalidRequestError(msg)
        return
    if choice.mode == "function":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.function_name}}
    else:
        body["tool_choice"] = choice.mode


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, TextResponseFormat):
        return None
    if isinstance(value, JsonObjectResponseFormat):
        return {"type": "json_object"}
    if isinstance(value, JsonSchemaResponseFormat):
        if not _NAME.match(value.name):
            msg = f"response_format name {value.name!r} must match {_NAME.pattern}"
            raise InvalidRequestError(msg)
        schema: dict[str, Any] = {
            "name": value.name,
            "schema": dict(value.schema),
            "strict": value.strict,
        }
        if value.description is not None:
            schema["description"] = value.description
        return {"type": "json_schema", "json_schema": schema}
    msg = f"unsupported response_format {value!r}"
    raise InvalidRequestError(msg)


def _max_tokens_field(model: str, options: Mapping[str, Any]) -> str:
    field = str(options.get("max_tokens_field", "max_tokens"))
    if field == "auto":
        return "max_completion_tokens" if is_reasoning_model(model) else "max_tokens"
    return field


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        msg = f"{name} must be a number between {low} and {high}, got {value!r}"
        raise InvalidRequestError(msg)


def _json_safe(extra: Mapping[str, Any], what: str) -> None:
    if not extra:
        return
    try:
        json.dumps(dict(extra), allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"{what} must be JSON-serialisable: {exc}"
        raise InvalidRequestError(msg) from exc


def encode_chat(
    request: ChatRequest, spec: ProviderSpec, *, stream: bool = False
) -> dict[str, Any]:
    """Build the Chat Completions body for ``request`` at the provider ``spec`` describes.

    Raises :class:`InvalidRequestError` naming the problem for input no OpenAI-compatible
    server would accept (before any I/O). ``request.extra`` is merged last, so a caller can
    set or override any body field.
    """
    options = spec.options
    if not request.model:
        msg = "model id must not be empty"
        raise InvalidRequestError(msg)
    if not request.messages:
        msg = "messages must not be empty"
        raise InvalidRequestError(msg)
    developer_role = bool(options.get("developer_role", False))
    body: dict[str, Any] = dict(options.get("default_body") or {})
    body["model"] = request.model
    body["messages"] = [
        _message(m, i, developer_role=developer_role) for i, m in enumerate(request.messages)
    ]
    _check_number("temperature", request.temperature, 0.0, 2.0)
    _check_number("top_p", request.top_p, 0.0, 1.0)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_tokens is not None:
        if isinstance(request.max_tokens, bool) or request.max_tokens < 1:
            msg = f"max_tokens must be a positive integer, got {request.max_tokens!r}"
            raise InvalidRequestError(msg)
        body[_max_tokens_field(request.model, options)] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body[str(options.get("seed_field", "seed"))] = request.seed
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        _tool_choice_into(body, request.tool_choice, offered=bool(request.tools))
    response_format = _response_format(request.response_format)
    if response_format is not None:
        body["response_format"] = response_format
    if request.reasoning_effort is not None:
        if options.get("reasoning_style") == "openrouter":
            body["reasoning"] = {"effort": request.reasoning_effort}
        else:
            body["reasoning_effort"] = request.reasoning_effort
    if request.user is not None:
        body["user"] = request.user
    if stream:
        body["stream"] = True
        if options.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
    _json_safe(request.extra, "extra body fields")
    body.update(request.extra)
    return body


def encode_embed(request: EmbeddingRequest, spec: ProviderSpec) -> dict[str, Any]:  # noqa: ARG001 - same shape as encode_chat
    """Build the embeddings body for ``request``; inputs are always sent as a list."""
    if not request.model:
        msg = "model id must not be empty"
        raise InvalidRequestError(msg)
    if not request.inputs or not all(isinstance(text, str) for text in request.inputs):
        msg = "inputs must be a non-empty list of strings"
        raise InvalidRequestError(msg)
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        if isinstance(request.dimensions, bool) or request.dimensions < 1:
            msg = f"dimensions must be a positive integer, got {request.dimensions!r}"
            raise InvalidRequestError(msg)
        body["dimensions"] = request.dimensions
    if request.encoding_format is not None:
        if request.encoding_format not in ("float", "base64"):
            msg = f"encoding_format must be 'float' or 'base64', got {request.encoding_format!r}"
            raise InvalidRequestError(msg)
        body["encoding_format"] = request.encoding_format
    _json_safe(request.extra, "extra body fields")
    body.update(request.extra)
    return body


# --------------------------------------------------------------------------- decoding


def _content_parts(content: Any) -> tuple[str, str]:
    """``(text, thinking)`` of a content value: a string or a list of parts (Mistral)."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    texts: list[str] = []
    thoughts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if not _is_mapping(part):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "thinking":
                inner = part.get("thinking")
                if isinstance(inner, str):
                    thoughts.append(inner)
                else:
                    thoughts.append(_content_parts(inner)[0])
    return "".join(texts), "".join(thoughts)


def _reasoning_text(message: Mapping[str, Any]) -> str:
    # DeepSeek (and vLLM) say reasoning_content; OpenRouter, Groq and newer vLLM say reasoning.
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _tool_call(raw: Any, position: int) -> ToolCall:
    call = _mapping(raw)
    function = _mapping(call.get("function"))
    arguments = function.get("arguments", "{}")
    if arguments is None:
        arguments = "{}"
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    name = function.get("name")
    return ToolCall(
        id=str(call.get("id") or f"call_{position}"),
        name=str(name or ""),
        arguments=arguments,
    )


def decode_chat(
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    provider: str = "openai",
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> ChatResponse:
    """Decode a Chat Completions response body (bytes, text or already-parsed JSON).

    ``headers`` (any case) end up lower-cased on ``ChatResponse.headers``; ``x-request-id``
    becomes ``request_id``. With ``options["usage_cost"]`` the reported ``usage.cost`` sets
    ``ChatResponse.cost``. An error object in a 200 body raises the matching error, with
    ``secrets`` scrubbed from its message.
    """
    return _decode_chat(
        body,
        _lower(headers),
        provider=provider,
        model=model,
        options=options,
        secrets=secrets,
    )


def _decode_chat(
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    provider: str = "openai",
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> ChatResponse:
    """:func:`decode_chat` for ``headers`` whose names are already lower-case.

    The core transport's response headers are a plain dict with lower-case names, so the
    client passes them here as they are rather than copying them once more per call.
    """
    data = _loads(body, provider, model)
    if not _is_mapping(data):
        msg = f"expected a JSON object from {provider}, got {type(data).__name__}"
        raise ProviderError(msg, provider=provider, model=model)
    if data.get("error") and not data.get("choices"):
        raise error_from_payload(data, headers, provider=provider, model=model, secrets=secrets)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not _is_mapping(choices[0]):
        msg = f"response from {provider} has no choices"
        raise ProviderError(msg, provider=provider, model=model, body=json.dumps(data)[:2000])
    choice = choices[0]
    message = _mapping(choice.get("message"))
    text, thinking = _content_parts(message.get("content"))
    thinking = _reasoning_text(message) or thinking
    raw_calls = message.get("tool_calls")
    calls = (
        tuple(_tool_call(c, i) for i, c in enumerate(raw_calls))
        if isinstance(raw_calls, list)
        else ()
    )
    refusal = message.get("refusal")
    usage = usage_of(data.get("usage")) or Usage()
    cost = cost_of(data.get("usage")) if (options or {}).get("usage_cost") else None
    content = text if (text or message.get("content") is not None) else None
    return ChatResponse(
        content=content,
        model=str(data.get("model") or model or ""),
        provider=provider,
        finish_reason=finish_reason_of(choice.get("finish_reason"), has_tool_calls=bool(calls)),
        tool_calls=calls,
        usage=usage,
        cost=cost,
        request_id=request_id_of(headers),
        thinking=(ThinkingBlock(thinking),) if thinking else (),
        refusal=refusal if isinstance(refusal, str) and refusal else None,
        headers=headers,
        raw=data,
    )


def decode_embed(
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    provider: str = "openai",
    model: str | None = None,
    expected: int | None = None,
) -> EmbeddingResponse:
    """Decode an embeddings body: float lists or base64 little-endian float32, by ``index``.

    ``expected`` (the number of inputs) is checked when given: a short answer is a
    :class:`ProviderError`, never a silently misaligned result.
    """
    lowered = _lower(headers)
    data = _loads(body, provider, model)
    if not _is_mapping(data):
        msg = f"expected a JSON object from {provider}, got {type(data).__name__}"
        raise ProviderError(msg, provider=provider, model=model)
    if data.get("error") and not data.get("data"):
        raise error_from_payload(data, lowered, provider=provider, model=model)
    items = data.get("data")
    if not isinstance(items, list):
        msg = f"embedding response from {provider} has no data list"
        raise ProviderError(msg, provider=provider, model=model)
    ordered: list[tuple[int, tuple[float, ...]]] = []
    for position, item in enumerate(items):
        entry = _mapping(item)
        index = entry.get("index", position)
        if not isinstance(index, int):
            index = position
        ordered.append((index, _vector(entry.get("embedding"), provider, model)))
    ordered.sort(key=lambda pair: pair[0])
    if expected is not None and len(ordered) != expected:
        msg = f"{provider} returned {len(ordered)} embeddings for {expected} inputs"
        raise ProviderError(msg, provider=provider, model=model)
    return EmbeddingResponse(
        embeddings=[vector for _, vector in ordered],
        model=str(data.get("model") or model or ""),
        provider=provider,
        usage=usage_of(data.get("usage")) or Usage(),
        request_id=request_id_of(lowered),
        headers=lowered,
    )


def _vector(raw: Any, provider: str, model: str | None) -> tuple[float, ...]:
    if isinstance(raw, str):
        try:
            packed = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            msg = f"{provider} sent an embedding that is not valid base64"
            raise ProviderError(msg, provider=provider, model=model) from exc
        if len(packed) % 4:
            msg = f"{provider} sent a base64 embedding of {len(packed)} bytes (not float32)"
            raise ProviderError(msg, provider=provider, model=model)
        return struct.unpack(f"<{len(packed) // 4}f", packed)
    if isinstance(raw, list):
        # Parsed JSON holds exactly float and int: checking the types in one pass over C
        # code keeps a 1536-value vector cheap. Subclasses take the full check below.
        if set(map(type, raw)) <= _JSON_NUMBERS:
            return tuple(map(float, raw))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            return tuple(float(v) for v in raw)
    msg = f"{provider} sent an embedding that is neither a float list nor base64"
    raise ProviderError(msg, provider=provider, model=model)


# --------------------------------------------------------------------------- streaming


class ChatStreamDecoder:
    """Turn the bytes of a streamed Chat Completions answer into :class:`ChatChunk` values.

    Feed bytes in any split with :meth:`feed`; call :meth:`close` at the end of the body.
    See the module docstring for where the terminal chunk and usage go.
    """

    def __init__(
        self,
        *,
        provider: str = "openai",
        model: str | None = None,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._provider = provider
        self._model = model
        self._headers = _lower(headers)
        self._request_id = request_id_of(self._headers)
        self._usage_cost = bool((options or {}).get("usage_cost"))
        self._secrets = secrets
        self._sse = SSEDecoder()
        self._finish: str | None = None
        self._finish_seen = False
        self._usage: Usage | None = None
        self._cost: Cost | None = None
        self._tool_calls = False
        self._tool_index_by_id: dict[str, int] = {}
        self._events = 0
        self._prefix = bytearray()
        self._pending_error: LmuxError | None = None
        self._closing = False
        self.done = False

    # -- public ------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add body bytes; return the chunks they complete (none once the stream is done)."""
        if self._pending_error is not None:
            self._raise_pending()
        if self.done:
            return []
        if not self._events and len(self._prefix) < _NON_SSE_LIMIT:
            self._prefix += data
        return self._handle(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        """End of body: return what is left, or raise if the stream was cut short."""
        self._raise_pending()
        if self.done:
            return []
        self._closing = True
        # The body ended inside an event: what followed it (the usage, [DONE]) was cut off.
        cut = self._sse.pending
        chunks = self._handle(self._sse.flush())
        if chunks and chunks[-1].finish_reason is not None:
            return chunks  # [DONE] was in the unterminated tail
        if self._finish_seen and not cut:
            # finish_reason arrived but [DONE] did not (body-only fixtures, lax servers).
            return [*chunks, self._terminal()]
        if not self._events:
            return self._non_sse()
        msg = f"stream from {self._provider} ended before [DONE] (truncated)"
        raise ProviderError(
            msg, provider=self._provider, model=self._model, request_id=self._request_id
        )

    # -- events ------------------------------------------------------------------------

    def _raise_pending(self) -> None:
        error, self._pending_error = self._pending_error, None
        if error is not None:
            self.done = True
            raise error

    def _handle(self, events: Iterable[ServerSentEvent]) -> list[ChatChunk]:
        chunks: list[ChatChunk] = []
        try:
            self._events_into(events, chunks)
        except LmuxError as exc:
            if not chunks:
                self.done = True
                raise
            # Hand out what arrived before the error; the next call raises it.
            self._pending_error = exc
        return chunks

    def _events_into(self, events: Iterable[ServerSentEvent], chunks: list[ChatChunk]) -> None:
        for event in events:
            if self.done:
                break
            self._events += 1
            data = event.data.strip()
            if event.event == "error":
                raise self._error(self._error_payload(data))
            if data == "[DONE]":
                chunks.append(self._terminal())
                continue
            if not data:
                continue
            chunk = self._chunk(self._parse(data))
            if chunk is not None:
                chunks.append(chunk)

    def _parse(self, data: str) -> Any:
        try:
            return loads_json(data)
        except ValueError as exc:
            # At the end of the body an unparsable event is one that was cut off.
            what = "truncated" if self._closing else "malformed"
            msg = f"{what} stream chunk from {self._provider}: {data[:200]!r}"
            raise ProviderError(
                msg, provider=self._provider, model=self._model, request_id=self._request_id
            ) from exc

    @staticmethod
    def _error_payload(data: str) -> Any:
        """The body of an ``event: error``: JSON as a rule, plain text from some servers."""
        if not data:
            return {"message": "stream error"}
        try:
            return json.loads(data)
        except ValueError:
            return {"message": data[:2000]}

    def _error(self, payload: Any) -> LmuxError:
        return error_from_payload(
            payload,
            self._headers,
            provider=self._provider,
            model=self._model,
            secrets=self._secrets,
        )

    def _chunk(self, obj: Any) -> ChatChunk | None:
        # This runs once per streamed chunk, and nearly every chunk is a plain dict with
        # one choice whose delta holds a string of content: that shape is tested first
        # with exact type checks, and the rarer ones (usage, Groq's ``x_groq``, reasoning,
        # content parts, tool calls) are looked into only when their key is there.
        if type(obj) is not dict and not _is_mapping(obj):
            msg = f"stream chunk from {self._provider} is not a JSON object"
            raise ProviderError(msg, provider=self._provider, model=self._model)
        if obj.get("error"):
            raise self._error(obj)
        model = obj.get("model")
        if model and isinstance(model, str):
            self._model = model
        if obj.get("usage") is not None or "x_groq" in obj:
            self._usage_in(obj)
        choices = obj.get("choices")
        if not choices or not isinstance(choices, list):
            return None
        choice = choices[0]
        if type(choice) is not dict and not _is_mapping(choice):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict:
            delta = _mapping(delta)
        text = delta.get("content")
        if type(text) is str:
            thinking = ""
        else:
            text, thinking = _content_parts(text)
        if "reasoning_content" in delta or "reasoning" in delta:
            thinking = _reasoning_text(delta) or thinking
        raw_calls = delta.get("tool_calls")
        deltas = self._tool_deltas(raw_calls) if raw_calls else ()
        finish = choice.get("finish_reason")
        if finish is not None:
            self._finish = str(finish)
            self._finish_seen = True
        if not (text or thinking or deltas):
            return None
        return ChatChunk(
            delta=text,
            tool_call_deltas=deltas,
            thinking_delta=thinking,
            model=self._model,
            provider=self._provider,
            request_id=self._request_id,
        )

    def _usage_in(self, obj: Mapping[str, Any]) -> None:
        """Keep the usage (and reported cost) a chunk carries, OpenAI's or Groq's."""
        raw_usage = obj.get("usage")
        if not _is_mapping(raw_usage) and "x_groq" in obj:
            raw_usage = _mapping(obj["x_groq"]).get("usage")
        if _is_mapping(raw_usage):
            self._usage = usage_of(raw_usage)
            if self._usage_cost:
                self._cost = cost_of(raw_usage) or self._cost

    def _tool_deltas(self, raw: Any) -> tuple[ToolCallDelta, ...]:
        if not isinstance(raw, list) or not raw:
            return ()
        self._tool_calls = True
        deltas = []
        for position, item in enumerate(raw):
            call = _mapping(item)
            function = _mapping(call.get("function"))
            call_id = call.get("id") if isinstance(call.get("id"), str) else None
            index = call.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                # Mistral sends whole calls without an index: place them by id.
                if call_id is not None:
                    index = self._tool_index_by_id.get(call_id, len(self._tool_index_by_id))
                else:
                    index = position
            if call_id is not None:
                self._tool_index_by_id.setdefault(call_id, index)
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            name = function.get("name")
            deltas.append(
                ToolCallDelta(
                    index=index,
                    id=call_id or None,
                    name=name if isinstance(name, str) and name else None,
                    arguments=arguments or "",
                )
            )
        return tuple(deltas)

    def _terminal(self) -> ChatChunk:
        self.done = True
        return ChatChunk(
            finish_reason=finish_reason_of(self._finish, has_tool_calls=self._tool_calls),
            usage=self._usage,
            cost=self._cost,
            model=self._model,
            provider=self._provider,
            request_id=self._request_id,
        )

    def _non_sse(self) -> list[ChatChunk]:
        """Handle a body with no SSE event: an error object or a whole (unstreamed) answer."""
        raw = bytes(self._prefix)
        if not raw.strip() or raw.lstrip().startswith((b":", b"data:", b"event:")):
            msg = f"stream from {self._provider} ended before any data (truncated)"
            raise ProviderError(
                msg, provider=self._provider, model=self._model, request_id=self._request_id
            )
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"stream from {self._provider} is neither SSE nor JSON: {raw[:200]!r}"
            raise ProviderError(msg, provider=self._provider, model=self._model) from exc
        if not _is_mapping(data):
            msg = f"stream from {self._provider} is neither SSE nor a JSON object: {raw[:200]!r}"
            raise ProviderError(msg, provider=self._provider, model=self._model)
        if data.get("error"):
            raise self._error(data)
        # A server that ignored stream=true: replay its whole answer as chunks.
        response = decode_chat(
            data,
            self._headers,
            provider=self._provider,
            model=self._model,
            options={"usage_cost": self._usage_cost},
        )
        self.done = True
        chunks = []
        deltas = tuple(
            ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
            for i, c in enumerate(response.tool_calls)
        )
        thinking = "".join(block.text for block in response.thinking)
        if response.content or thinking or deltas:
            chunks.append(
                ChatChunk(
                    delta=response.content or "",
                    tool_call_deltas=deltas,
                    thinking_delta=thinking,
                    model=response.model,
                    provider=self._provider,
                    request_id=self._request_id,
                )
            )
        chunks.append(
            ChatChunk(
                finish_reason=response.finish_reason,
                usage=response.usage,
                cost=response.cost,
                model=response.model,
                provider=self._provider,
                request_id=self._request_id,
            )
        )
        return chunks


# --------------------------------------------------------------------------- the codec

_ACCEPT_JSON = {"accept": "application/json"}
_ACCEPT_SSE = {"accept": "text/event-stream"}


class OpenAICodec(BaseCodec):
    """The OpenAI wire (Chat Completions and embeddings) for :mod:`lmux_plug.wire`."""

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """``POST chat/completions`` (or the Azure deployment's)."""
        url, params = endpoint(provider, request.model, "chat")
        body = encode_chat(request, provider.spec, stream=stream)
        return WireRequest(url, body, _ACCEPT_SSE if stream else _ACCEPT_JSON, params)

    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        """The Chat Completions answer; an error object in a 200 body raises."""
        headers = response.headers
        return _decode_chat(
            response.body,
            # The core transport hands over a plain dict with lower-case names (its
            # contract), so only another Mapping type is copied and lower-cased here.
            headers if type(headers) is dict else _lower(headers),
            provider=provider.name,
            model=request.model,
            options=provider.spec.options,
            secrets=provider.secrets(),
        )

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> ChatStreamDecoder:
        """A :class:`ChatStreamDecoder` for one streamed answer."""
        return ChatStreamDecoder(
            provider=provider.name,
            model=request.model,
            headers=headers,
            options=provider.spec.options,
            secrets=provider.secrets(),
        )

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """``POST embeddings``."""
        url, params = endpoint(provider, request.model, "embed")
        return WireRequest(url, encode_embed(request, provider.spec), _ACCEPT_JSON, params)

    def decode_embed(
        self, response: WireResponse, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        """One vector per input, in input order."""
        return decode_embed(
            response.body,
            response.headers,
            provider=provider.name,
            model=request.model,
            expected=len(request.inputs),
        )


#: The codec instance the plugin's hooks drive.
CODEC = OpenAICodec()
