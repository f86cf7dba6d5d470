"""Turn the keywords of ``create_response`` / ``complete`` / ``transcribe`` into typed requests.

Everything here runs before any network I/O, so bad input fails fast with an
:class:`~lmux_plug.errors.InvalidRequestError` naming what is wrong. The keywords are
checked by :func:`lmux_plug.params.check_api_params`: a misspelt one is refused with a
did-you-mean; the API's fields this module does not type travel in ``extra``, as do
provider-specific fields given in ``extra_body``.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import TypeVar

import attrs

from lmux_plug._api_types import CompletionRequest
from lmux_plug._api_types import ResponseOutputItem
from lmux_plug._api_types import ResponseRequest
from lmux_plug._api_types import ToolChoiceFunction
from lmux_plug._api_types import TranscriptionRequest
from lmux_plug._types import AssistantMessage
from lmux_plug._types import AudioContent
from lmux_plug._types import Capability
from lmux_plug._types import DeveloperMessage
from lmux_plug._types import FileContent
from lmux_plug._types import ImageContent
from lmux_plug._types import JsonObjectResponseFormat
from lmux_plug._types import SystemMessage
from lmux_plug._types import TextContent
from lmux_plug._types import TextResponseFormat
from lmux_plug._types import Tool
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolChoice
from lmux_plug._types import ToolMessage
from lmux_plug._types import UserMessage
from lmux_plug.convert import to_message
from lmux_plug.convert import to_response_format
from lmux_plug.convert import to_tool
from lmux_plug.convert import to_tool_choice
from lmux_plug.errors import InvalidRequestError
from lmux_plug.params import check_api_params

__all__ = [
    "completion_request",
    "output_to_input",
    "read_audio",
    "response_request",
    "to_input_items",
    "transcription_request",
]

#: The request types built from keyword arguments here.
_Request = TypeVar("_Request", CompletionRequest, ResponseRequest, TranscriptionRequest)

_HOSTED_TOOL_CHOICES = frozenset({"web_search", "web_search_preview", "file_search", "mcp"})
_MAX_AUDIO_BYTES = 200 * 1024 * 1024


def _bad(message: str, model: str | None) -> InvalidRequestError:
    return InvalidRequestError(message, model=model)


def _extra(params: dict[str, Any]) -> dict[str, Any]:
    extra = dict(params.pop("extra_body", None) or {})
    extra.update(params.pop("extra", None) or {})
    return extra


def _one_or_many(value: Any) -> Any:
    """A lone string as a one-item tuple (``stop="x"``, ``include="..."``)."""
    return (value,) if isinstance(value, str) else value


def _built(
    cls: type[_Request], model: str, params: dict[str, Any], extra: dict[str, Any], **given: Any
) -> _Request:
    """``cls`` from ``given``, the other fields of ``cls`` in ``params``, the rest as ``extra``.

    ``params`` is consumed; a value the request type refuses is an invalid request.
    """
    # The type's own fields are the typed keywords: a field added there needs no list here.
    fields = [f.name for f in attrs.fields(cls) if f.name not in ("model", "extra")]
    known = {k: params.pop(k) for k in fields if k in params and k not in given}
    extra.update(params)
    try:
        return cls(model=model, extra=extra, **given, **known)
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc), model) from exc


# --------------------------------------------------------------------------- Responses input


def _part_to_input(part: Any, model: str | None) -> dict[str, Any]:
    if isinstance(part, TextContent):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImageContent):
        image: dict[str, Any] = {"type": "input_image", "image_url": part.url}
        if part.detail:
            image["detail"] = part.detail
        return image
    if isinstance(part, FileContent):
        file: dict[str, Any] = {"type": "input_file"}
        if part.file_id:
            file["file_id"] = part.file_id
        else:
            file["file_data"] = f"data:{part.media_type};base64,{part.data or ''}"
            file["filename"] = part.filename or "file.pdf"
        return file
    if isinstance(part, AudioContent):
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
    msg = f"cannot send content part {type(part).__name__} to the Responses API"
    raise _bad(msg, model)


def _message_to_input(message: Any, model: str | None) -> list[dict[str, Any]]:
    """A core message as Responses input items (a tool result or call is its own item)."""
    if isinstance(message, (SystemMessage, DeveloperMessage)):
        return [{"role": message.role, "content": message.content}]
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return [{"role": "user", "content": message.content}]
        parts = [_part_to_input(p, model) for p in message.content]
        return [{"role": "user", "content": parts}]
    if isinstance(message, ToolMessage):
        return [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id,
                "output": message.content,
            }
        ]
    if isinstance(message, AssistantMessage):
        items: list[dict[str, Any]] = []
        if message.content:
            items.append({"role": "assistant", "content": message.content})
        items.extend(_call_to_input(call) for call in message.tool_calls)
        return items
    msg = f"cannot send {type(message).__name__} as a Responses input item"
    raise _bad(msg, model)


def _call_to_input(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "function_call",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
    }


_CHAT_PART_TYPES = frozenset({"text", "image_url", "file"})


def _is_chat_style(item: Mapping[str, Any]) -> bool:
    """Whether a dict input item is a Chat Completions message rather than a Responses item."""
    role = item.get("role")
    if role == "tool" and "tool_call_id" in item:
        return True
    if role == "assistant" and item.get("tool_calls"):
        return True
    content = item.get("content")
    return (
        isinstance(role, str)
        and isinstance(content, list)
        and any(isinstance(p, Mapping) and p.get("type") in _CHAT_PART_TYPES for p in content)
    )


def _item(value: Any, index: int, model: str | None) -> list[dict[str, Any]]:
    if isinstance(value, ToolCall):
        return [_call_to_input(value)]
    if isinstance(value, Mapping):
        if not isinstance(value.get("type"), str) and not isinstance(value.get("role"), str):
            msg = f"input item {index} has neither 'type' nor 'role': {dict(value)!r:.200}"
            raise _bad(msg, model)
        if _is_chat_style(value):
            # A chat-style message (tool result, assistant tool calls, or content parts typed
            # "text" / "image_url" / "file"): the Responses API spells each differently.
            return _message_to_input(to_message(value, index), model)
        return [dict(value)]
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic items (lmux's ResponseInput* types)
        return _item(dump(exclude_none=True), index, model)
    return _message_to_input(value, model)


def to_input_items(
    value: str | Iterable[Any], model: str | None = None
) -> str | tuple[Mapping[str, Any], ...]:
    """``input`` as the Responses wire takes it: a string, or input items as dicts.

    Accepts dicts (Responses items or chat-style messages), core messages, tool calls and
    the items of a previous ``ResponseResponse.output``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        msg = f"input must be a string or a list of input items, got {type(value).__name__}"
        raise _bad(msg, model)
    items = [item for index, raw in enumerate(value) for item in _item(raw, index, model)]
    if not items:
        msg = "input must not be empty"
        raise _bad(msg, model)
    return tuple(items)


def output_to_input(output: Sequence[ResponseOutputItem]) -> tuple[Mapping[str, Any], ...]:
    """A response's ``output`` as input items for a stateless next turn."""
    result = to_input_items(list(output)) if output else ()
    return () if isinstance(result, str) else result


def _response_tool(value: Any, model: str | None) -> Tool | Mapping[str, Any]:
    if isinstance(value, Tool):
        return value
    if isinstance(value, Mapping) and value.get("type", "function") != "function":
        if not isinstance(value.get("type"), str):
            msg = f"a tool needs a string 'type', got {value!r:.200}"
            raise _bad(msg, model)
        return dict(value)  # a hosted tool (web_search, file_search, ...): sent as given
    return to_tool(value)


def _text_format(response_format: Any) -> dict[str, Any] | None:
    """A chat-style ``response_format`` as the Responses ``text.format`` object."""
    typed = to_response_format(response_format)
    if typed is None or isinstance(typed, TextResponseFormat):
        return None if typed is None else {"type": "text"}
    if isinstance(typed, JsonObjectResponseFormat):
        return {"type": "json_object"}
    fmt: dict[str, Any] = {
        "type": "json_schema",
        "name": typed.name,
        "schema": dict(typed.schema),
        "strict": typed.strict,
    }
    if typed.description:
        fmt["description"] = typed.description
    return fmt


def _tool_choice(value: Any, extra: dict[str, Any]) -> ToolChoice | None:
    if isinstance(value, ToolChoiceFunction):
        return value.to_tool_choice()
    if isinstance(value, Mapping):
        if value.get("type") == "function" and isinstance(value.get("name"), str):
            return ToolChoice.function(value["name"])
        if value.get("type") in _HOSTED_TOOL_CHOICES or value.get("type") == "allowed_tools":
            extra["tool_choice"] = dict(value)  # hosted-tool choice: the wire's own shape
            return None
    return to_tool_choice(value)


def response_request(
    model: str, value: str | Iterable[Any], params: dict[str, Any]
) -> tuple[ResponseRequest, list[Capability]]:
    """The request for ``create_response`` and the capabilities it needs (``params`` consumed)."""
    check_api_params("responses", params, model=model)
    needed = [Capability.RESPONSES]
    extra = _extra(params)
    items = to_input_items(value, model)
    tools = params.pop("tools", None)
    typed_tools = tuple(_response_tool(t, model) for t in tools) if tools else None
    if typed_tools and any(isinstance(t, Tool) for t in typed_tools):
        needed.append(Capability.TOOLS)
    tool_choice = _tool_choice(params.pop("tool_choice", None), extra)
    text = params.pop("text", None)
    fmt = _text_format(params.pop("response_format", None))
    if fmt is not None:
        text = {**dict(text or {}), "format": fmt}
    if isinstance(text, Mapping):
        kind = _mapping_get(text.get("format"), "type")
        if kind == "json_object":
            needed.append(Capability.JSON_OBJECT)
        elif kind == "json_schema":
            needed.append(Capability.JSON_SCHEMA)
    elif text is not None:
        msg = f"text must be a dict like {{'format': {{...}}}}, got {type(text).__name__}"
        raise _bad(msg, model)
    reasoning = params.pop("reasoning", None)
    effort = params.pop("reasoning_effort", None)
    if effort is not None:
        reasoning = {**dict(reasoning or {}), "effort": effort}
    if reasoning is not None:
        if not isinstance(reasoning, Mapping):
            msg = f"reasoning must be a dict like {{'effort': 'low'}}, got {reasoning!r}"
            raise _bad(msg, model)
        needed.append(Capability.REASONING)
    request = _built(
        ResponseRequest,
        model,
        params,
        extra,
        input=items,
        tools=typed_tools,
        tool_choice=tool_choice,
        text=text,
        reasoning=reasoning,
        include=_one_or_many(params.pop("include", None)),
    )
    return request, needed


def _mapping_get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


# --------------------------------------------------------------------------- completions


def completion_request(
    model: str, prompt: str | Sequence[str], params: dict[str, Any]
) -> CompletionRequest:
    """The request for ``complete`` (``params`` consumed)."""
    given: object = prompt  # untyped callers may pass anything
    if isinstance(given, str):
        text: str | tuple[str, ...] = given
    elif isinstance(given, (list, tuple)) and given and all(isinstance(p, str) for p in given):
        text = tuple(given)
    else:
        msg = "prompt must be a string or a non-empty list of strings"
        raise _bad(msg, model)
    check_api_params("completions", params, model=model)
    extra = _extra(params)
    stop = _one_or_many(params.pop("stop", None))
    return _built(CompletionRequest, model, params, extra, prompt=text, stop=stop)


# --------------------------------------------------------------------------- transcription


def read_audio(audio: Any, model: str | None = None) -> tuple[bytes, str | None]:
    """The bytes of ``audio`` (bytes, a path, or a binary file object) and its file name."""
    if isinstance(audio, (bytes, bytearray, memoryview)):
        data, name = bytes(audio), None
    elif isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        if not path.is_file():
            msg = f"audio file {str(path)!r} does not exist"
            raise _bad(msg, model)
        data, name = path.read_bytes(), path.name
    elif callable(getattr(audio, "read", None)):
        data = audio.read()
        if isinstance(data, str):
            msg = "audio file objects must be opened in binary mode ('rb')"
            raise _bad(msg, model)
        if not isinstance(data, (bytes, bytearray)):
            msg = f"audio.read() returned {type(data).__name__}, not bytes"
            raise _bad(msg, model)
        data = bytes(data)
        raw_name = getattr(audio, "name", None)
        name = Path(raw_name).name if isinstance(raw_name, str) and raw_name else None
    else:
        msg = f"audio must be bytes, a path or a binary file object, got {type(audio).__name__}"
        raise _bad(msg, model)
    if not data:
        msg = "audio is empty"
        raise _bad(msg, model)
    if len(data) > _MAX_AUDIO_BYTES:
        msg = f"audio is {len(data)} bytes; the limit is {_MAX_AUDIO_BYTES}"
        raise _bad(msg, model)
    return data, name


def transcription_request(model: str, audio: Any, params: dict[str, Any]) -> TranscriptionRequest:
    """The request for ``transcribe`` (``params`` consumed)."""
    check_api_params("transcription", params, model=model)
    data, found_name = read_audio(audio, model)
    extra = _extra(params)
    granularities = _one_or_many(params.pop("timestamp_granularities", None))
    filename = params.pop("filename", None) or found_name or "audio.wav"
    if not isinstance(filename, str) or "/" in filename or "\r" in filename or "\n" in filename:
        msg = f"filename must be a plain file name, got {filename!r}"
        raise _bad(msg, model)
    return _built(
        TranscriptionRequest,
        model,
        params,
        extra,
        audio=data,
        filename=filename,
        media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        timestamp_granularities=granularities,
    )
