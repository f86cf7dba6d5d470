"""Conversion between the core types and plain dicts.

Two kinds of dict meet the core:

* **OpenAI-style wire dicts** (``{"role": "user", "content": "hi"}``, ``image_url`` parts,
  ``tool_calls`` with a ``function`` object). :func:`to_message` and :func:`to_messages`
  accept them (and typed messages) everywhere a message is taken; :func:`message_to_openai`
  writes them. This is the lingua franca of most providers and of the gateway.
* **Canonical dicts** of every core type, via a cattrs converter (:func:`make_converter`):
  ``structure(unstructure(x), T) == x`` for every type, Decimals as strings, unions tagged
  by ``role`` (messages) and ``type`` (content parts, response formats).

cattrs is imported only when a converter is built, to keep ``import lmux_plug`` fast.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug._types import AssistantMessage
from lmux_plug._types import AudioContent
from lmux_plug._types import ContentPart
from lmux_plug._types import DeveloperMessage
from lmux_plug._types import FileContent
from lmux_plug._types import FunctionDefinition
from lmux_plug._types import ImageContent
from lmux_plug._types import JsonObjectResponseFormat
from lmux_plug._types import JsonSchemaResponseFormat
from lmux_plug._types import Message
from lmux_plug._types import ResponseFormat
from lmux_plug._types import SystemMessage
from lmux_plug._types import TextContent
from lmux_plug._types import TextResponseFormat
from lmux_plug._types import ThinkingBlock
from lmux_plug._types import Tool
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolChoice
from lmux_plug._types import ToolMessage
from lmux_plug._types import UserMessage
from lmux_plug.errors import InvalidRequestError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "MessagesLike",
    "converter",
    "make_converter",
    "message_to_openai",
    "part_to_openai",
    "to_message",
    "to_messages",
    "to_response_format",
    "to_tool",
    "to_tool_choice",
    "tool_calls_to_openai",
]

#: What a chat call takes as its messages: typed messages or OpenAI-style dicts, or a bare
#: string (one user message). :func:`to_messages` turns any of them into core messages.
MessagesLike = Iterable[Message | Mapping[str, Any]] | str

_MESSAGE_TYPES = (SystemMessage, DeveloperMessage, UserMessage, AssistantMessage, ToolMessage)
_MESSAGE_BY_ROLE: dict[str, type[Any]] = {
    "system": SystemMessage,
    "developer": DeveloperMessage,
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool": ToolMessage,
}
_PART_BY_TYPE: dict[str, type[Any]] = {
    "text": TextContent,
    "image": ImageContent,
    "audio": AudioContent,
    "file": FileContent,
}
_FORMAT_BY_TYPE: dict[str, type[Any]] = {
    "text": TextResponseFormat,
    "json_object": JsonObjectResponseFormat,
    "json_schema": JsonSchemaResponseFormat,
}


# --------------------------------------------------------------------------- OpenAI-style dicts


def _bad(message: str, index: int | None) -> InvalidRequestError:
    where = f"messages[{index}]: " if index is not None else ""
    return InvalidRequestError(where + message)


def _text_of(content: Any, index: int | None) -> str:
    """System/developer/tool content: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, TextContent):
                texts.append(part.text)
            else:
                raise _bad("only text parts are allowed in this role", index)
        return "".join(texts)
    raise _bad(f"content must be a string, got {type(content).__name__}", index)


def _part(part: Any, index: int | None) -> ContentPart:
    if isinstance(part, (TextContent, ImageContent, AudioContent, FileContent)):
        return part
    if not isinstance(part, Mapping):
        raise _bad(f"a content part must be a dict, got {type(part).__name__}", index)
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return TextContent(part["text"], cache_control=bool(part.get("cache_control")))
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise _bad("image_url part needs a url", index)
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return ImageContent(url=url, detail=detail)
    if kind == "image" and isinstance(part.get("url"), str):
        return ImageContent(url=part["url"], detail=part.get("detail"))
    if kind == "input_audio" and isinstance(part.get("input_audio"), Mapping):
        audio = part["input_audio"]
        return AudioContent(data=str(audio.get("data", "")), format=str(audio.get("format", "wav")))
    if kind == "audio" and isinstance(part.get("data"), str):
        return AudioContent(data=part["data"], format=str(part.get("format", "wav")))
    if kind == "file":
        file = part.get("file", part)
        if isinstance(file, Mapping):
            data = file.get("file_data") or file.get("data")
            media_type = "application/pdf"
            if isinstance(data, str) and data.startswith("data:"):
                media_type, _, data = data[5:].partition(";base64,")
            return FileContent(
                data=data,
                media_type=str(file.get("media_type", media_type)),
                filename=file.get("filename"),
                file_id=file.get("file_id"),
            )
    raise _bad(f"unsupported content part {kind!r}", index)


def _tool_call(call: Any, index: int | None) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise _bad("tool_calls items must be dicts", index)
    function = call.get("function", call)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise _bad("a tool call needs function.name", index)
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        import json  # noqa: PLC0415 - rare path

        arguments = json.dumps(arguments)
    return ToolCall(
        id=str(call.get("id") or ""),
        name=function["name"],
        arguments=arguments,
        signature=call.get("signature"),
    )


def to_message(value: Message | Mapping[str, Any] | Any, index: int | None = None) -> Message:
    """Return ``value`` as a typed message; OpenAI-style dicts are converted.

    Objects with ``model_dump()`` (an earlier answer's message) are read as their dict.
    Anything else raises :class:`InvalidRequestError` naming the problem (before any I/O).
    """
    if isinstance(value, _MESSAGE_TYPES):
        return value
    # A plain dict (the usual input) is a Mapping; only other types need the slow ABC check.
    if type(value) is not dict and not isinstance(value, Mapping):
        value = _dumped(value, index)
    role = value.get("role")
    content = value.get("content")
    if role in ("system", "developer"):
        cls = SystemMessage if role == "system" else DeveloperMessage
        return cls(_text_of(content, index))
    if role == "user":
        if isinstance(content, str):
            return UserMessage(content, name=value.get("name"))
        if isinstance(content, list) and content:
            return UserMessage(tuple(_part(p, index) for p in content), name=value.get("name"))
        raise _bad("user content must be a string or a non-empty list of parts", index)
    if role == "assistant":
        calls = value.get("tool_calls") or ()
        if not isinstance(calls, (list, tuple)):
            raise _bad("tool_calls must be a list", index)
        text = None if content is None else _text_of(content, index)
        thinking = value.get("thinking") or ()
        return AssistantMessage(
            content=text,
            tool_calls=tuple(_tool_call(c, index) for c in calls),
            thinking=tuple(
                t if isinstance(t, ThinkingBlock) else ThinkingBlock(**t) for t in thinking
            ),
            refusal=value.get("refusal"),
            name=value.get("name"),
        )
    if role == "tool":
        call_id = value.get("tool_call_id")
        if not isinstance(call_id, str):
            raise _bad("a tool message needs tool_call_id", index)
        return ToolMessage(_text_of(content, index), call_id, name=value.get("name"))
    raise _bad(f"unknown role {role!r}; expected one of {sorted(_MESSAGE_BY_ROLE)}", index)


def _dumped(value: object, index: int | None) -> Mapping[str, Any]:
    """A message object with ``model_dump()`` as its dict.

    Pydantic models, the openai SDK's objects and the drop-in client's answers, so
    ``messages.append(reply.choices[0].message)`` works.
    """
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            dumped = dump(exclude_none=True)
        except Exception as exc:  # noqa: BLE001 - any failure is the caller's bad input
            msg = f"cannot read message {type(value).__name__}: {exc}"
            raise _bad(msg, index) from None
        if isinstance(dumped, Mapping):
            return dumped
    msg = f"a message must be a dict, a Message or have model_dump(), got {type(value).__name__}"
    raise _bad(msg, index)


def to_messages(values: MessagesLike) -> tuple[Message, ...]:
    """Convert a message list; a bare string is one user message."""
    if isinstance(values, str):
        return (UserMessage(values),)
    try:
        messages = tuple(to_message(v, i) for i, v in enumerate(values))
    except TypeError as exc:
        msg = f"messages must be a list, got {type(values).__name__}"
        raise InvalidRequestError(msg) from exc
    if not messages:
        msg = "messages must not be empty"
        raise InvalidRequestError(msg)
    return messages


def to_response_format(value: ResponseFormat | Mapping[str, Any] | None) -> ResponseFormat | None:
    """Accept a typed response format or OpenAI's ``response_format`` dict."""
    if value is None or isinstance(
        value, (TextResponseFormat, JsonObjectResponseFormat, JsonSchemaResponseFormat)
    ):
        return value
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "text":
            return TextResponseFormat()
        if kind == "json_object":
            return JsonObjectResponseFormat()
        if kind == "json_schema":
            spec = value.get("json_schema", value)
            if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
                return JsonSchemaResponseFormat(
                    name=str(spec.get("name", "response")),
                    schema=spec["schema"],
                    strict=bool(spec.get("strict", True)),
                    description=spec.get("description"),
                )
    msg = f"unsupported response_format {value!r}"
    raise InvalidRequestError(msg)


def part_to_openai(part: ContentPart) -> dict[str, Any]:
    """One content part in OpenAI's Chat Completions shape."""
    if isinstance(part, TextContent):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImageContent):
        image: dict[str, Any] = {"url": part.url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, AudioContent):
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
    file: dict[str, Any] = {}
    if part.file_id:
        file["file_id"] = part.file_id
    if part.data is not None:
        file["file_data"] = f"data:{part.media_type};base64,{part.data}"
    if part.filename:
        file["filename"] = part.filename
    return {"type": "file", "file": file}


def tool_calls_to_openai(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    """Tool calls in OpenAI's Chat Completions shape (a message's ``tool_calls``)."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def message_to_openai(message: Message) -> dict[str, Any]:
    """One message in OpenAI's Chat Completions shape."""
    if isinstance(message, UserMessage):
        content: Any = (
            message.content
            if isinstance(message.content, str)
            else [part_to_openai(p) for p in message.content]
        )
        out: dict[str, Any] = {"role": "user", "content": content}
        if message.name:
            out["name"] = message.name
        return out
    if isinstance(message, AssistantMessage):
        out = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            out["tool_calls"] = tool_calls_to_openai(message.tool_calls)
        if message.refusal:
            out["refusal"] = message.refusal
        return out
    if isinstance(message, ToolMessage):
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    return {"role": message.role, "content": message.content}


# --------------------------------------------------------------------------- cattrs


def make_converter() -> cattrs.Converter:
    """A new cattrs converter for every core type (canonical dicts, JSON-safe)."""
    import cattrs  # noqa: PLC0415 - lazy: cattrs costs ~40 ms to import

    conv = cattrs.Converter()
    configure_converter(conv)
    return conv


def configure_converter(conv: cattrs.Converter) -> None:
    """Register the hooks the core types need on an existing converter."""
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _: Decimal(v))
    conv.register_unstructure_hook(frozenset, lambda v: sorted(conv.unstructure(x) for x in v))

    def tagged(table: dict[str, type[Any]], tag: str) -> Any:
        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping) or value.get(tag) not in table:
                msg = f"expected a dict with {tag!r} in {sorted(table)}, got {value!r}"
                raise InvalidRequestError(msg)
            return conv.structure(value, table[value[tag]])

        return structure

    def unstructure_union(value: Any) -> Any:
        return conv.unstructure(value, unstructure_as=type(value))

    for union, table, tag in (
        (Message, _MESSAGE_BY_ROLE, "role"),
        (ContentPart, _PART_BY_TYPE, "type"),
        (ResponseFormat, _FORMAT_BY_TYPE, "type"),
    ):
        conv.register_structure_hook(union, tagged(table, tag))
        conv.register_unstructure_hook(union, unstructure_union)
    part_type: Any = ContentPart  # a union, which cattrs accepts and mypy's stubs do not

    def text_or_parts(value: Any, _: Any) -> str | tuple[Any, ...]:
        """``UserMessage.content``: a string or a tuple of tagged parts."""
        if isinstance(value, str):
            return value
        return tuple(conv.structure(part, part_type) for part in value)

    conv.register_structure_hook(str | tuple[ContentPart, ...], text_or_parts)
    # ``Any`` fields (raw payloads) pass through; a predicate, since 3.10's singledispatch
    # cannot register ``typing.Any``.
    conv.register_structure_hook_func(lambda t: t is Any, lambda v, _: v)


@functools.cache
def converter() -> cattrs.Converter:
    """The shared converter (built on first use)."""
    return make_converter()


def to_tool(value: Tool | Mapping[str, Any]) -> Tool:
    """Accept a typed tool or OpenAI's ``{"type": "function", "function": {...}}`` dict."""
    if isinstance(value, Tool):
        return value
    if isinstance(value, Mapping):
        function = value.get("function", value)
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return Tool(
                FunctionDefinition(
                    name=function["name"],
                    description=function.get("description"),
                    parameters=function.get("parameters") or {"type": "object", "properties": {}},
                    strict=function.get("strict"),
                )
            )
    msg = f"a tool must be a Tool or a dict with function.name, got {value!r}"
    raise InvalidRequestError(msg)


def to_tool_choice(value: ToolChoice | str | Mapping[str, Any] | None) -> ToolChoice | None:
    """Accept ``"auto"``, ``"none"``, ``"required"``, a ToolChoice or OpenAI's dict form."""
    if value is None or isinstance(value, ToolChoice):
        return value
    if value in ("auto", "none", "required"):
        return ToolChoice(mode=value)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        function = value.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return ToolChoice.function(function["name"])
    msg = f"tool_choice must be 'auto', 'none', 'required' or a function, got {value!r}"
    raise InvalidRequestError(msg)
