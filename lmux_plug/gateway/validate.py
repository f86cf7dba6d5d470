"""Shape checks of request bodies, so a malformed one is a 400 (never a 500 further in).

Two jobs, each done in one place. This module checks the *JSON shapes* of OpenAI's wire
format: the structure of messages, content parts, tools, tool choice, response format and
stream options. The *values* of the call parameters (types and ranges of ``temperature``,
``seed``, ``stop`` ...) are checked by :mod:`lmux_plug.params`, the checker every entry point
uses (library calls, the drop-in client, batch); here its verdict becomes a 400 naming the
field. Fields the gateway does not know are passed on to the provider (``extra_body``)
unchecked, as JSON.
Every body is also bounded in nesting depth, since deep structures break recursive code
(JSON encoders, converters) further along.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from lmux_plug.gateway.errors import GatewayError
from lmux_plug.params import CHAT_PARAMETERS
from lmux_plug.params import InvalidParameterError
from lmux_plug.params import check_chat_params
from lmux_plug.params import check_embed_params

__all__ = ["MAX_DEPTH", "check_chat", "check_depth", "check_embeddings", "check_model_id"]

MAX_DEPTH = 64
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Characters that would change the meaning of a URL path a codec builds from a model id.
_UNSAFE_ID = re.compile(r"[?#%\\\s\x00-\x1f\x7f]|(^|/)\.{1,2}(/|$)|//|^/")


def _bad(message: str, param: str, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def check_depth(body: object) -> None:
    """400 when ``body`` nests deeper than :data:`MAX_DEPTH` (level by level: no recursion)."""
    level = [body]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            msg = f"request body is nested deeper than {MAX_DEPTH} levels"
            raise _bad(msg, "body", "invalid_json")
        deeper = []
        for item in level:
            for value in item.values() if type(item) is dict else item:  # type: ignore[attr-defined]
                kind = type(value)
                if kind is dict or kind is list:
                    deeper.append(value)
        level = deeper


def check_model_id(name: str, param: str = "model") -> None:
    """400 for a model name with path traversal, query, fragment or control characters."""
    if _UNSAFE_ID.search(name):
        msg = (
            f"invalid model name {name!r}: model ids may not contain '?', '#', '%', '\\\\', "
            "whitespace, empty or '.'/'..' path segments"
        )
        raise _bad(msg, param, "invalid_model")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _of(kind: type | tuple[type, ...], what: str) -> Callable[[object, str], None]:
    def check(value: object, param: str) -> None:
        if isinstance(value, bool) and kind is not bool:
            msg = f"'{param}' must be {what}, got bool"
            raise _bad(msg, param)
        if not isinstance(value, kind):
            msg = f"'{param}' must be {what}, got {_type_name(value)}"
            raise _bad(msg, param)

    return check


_string = _of(str, "a string")
_boolean = _of(bool, "a boolean")
_object = _of(dict, "an object")
_list = _of(list, "an array")


def _function(value: object, param: str) -> None:
    _object(value, param)
    assert isinstance(value, dict)  # noqa: S101 - checked above
    name = value.get("name")
    if not isinstance(name, str) or not name:
        msg = f"'{param}.name' must be a non-empty string"
        raise _bad(msg, f"{param}.name")
    for field, check in (("description", _string), ("parameters", _object), ("strict", _boolean)):
        if value.get(field) is not None:
            check(value[field], f"{param}.{field}")


def _objects(value: object, param: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Each item of an array of objects with its path (400 unless it is one)."""
    _list(value, param)
    assert isinstance(value, list)  # noqa: S101 - checked above
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        _object(item, where)
        yield item, where


def _tools(value: object, param: str) -> None:
    for tool, where in _objects(value, param):
        if tool.get("type", "function") != "function":
            msg = f"'{where}.type' must be 'function'"
            raise _bad(msg, f"{where}.type")
        _function(tool.get("function"), f"{where}.function")


def _tool_choice(value: object, param: str) -> None:
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            msg = f"'{param}' must be 'none', 'auto', 'required' or an object"
            raise _bad(msg, param)
        return
    _object(value, param)
    assert isinstance(value, dict)  # noqa: S101
    function = value.get("function")
    if value.get("type") != "function" or not isinstance(function, dict):
        msg = f"'{param}' must be {{'type': 'function', 'function': {{'name': ...}}}}"
        raise _bad(msg, param)
    _string(function.get("name"), f"{param}.function.name")


def _response_format(value: object, param: str) -> None:
    _object(value, param)
    assert isinstance(value, dict)  # noqa: S101
    kind = value.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        msg = f"'{param}.type' must be 'text', 'json_object' or 'json_schema'"
        raise _bad(msg, f"{param}.type")
    if kind == "json_schema":
        schema = value.get("json_schema")
        _object(schema, f"{param}.json_schema")
        assert isinstance(schema, dict)  # noqa: S101
        _string(schema.get("name"), f"{param}.json_schema.name")
        if schema.get("schema") is not None:
            _object(schema["schema"], f"{param}.json_schema.schema")
        if schema.get("strict") is not None:
            _boolean(schema["strict"], f"{param}.json_schema.strict")


def _stream_options(value: object, param: str) -> None:
    _object(value, param)
    assert isinstance(value, dict)  # noqa: S101
    if value.get("include_usage") is not None:
        _boolean(value["include_usage"], f"{param}.include_usage")


def _part(part: object, param: str) -> None:
    _object(part, param)
    assert isinstance(part, dict)  # noqa: S101
    kind = part.get("type")
    _string(kind, f"{param}.type")
    if kind == "text":
        _string(part.get("text"), f"{param}.text")
    elif kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        _string(url, f"{param}.image_url.url")
        if isinstance(image, dict) and image.get("detail") is not None:
            _string(image["detail"], f"{param}.image_url.detail")
    elif kind == "input_audio":
        audio = part.get("input_audio")
        _object(audio, f"{param}.input_audio")
        assert isinstance(audio, dict)  # noqa: S101
        _string(audio.get("data"), f"{param}.input_audio.data")
        _string(audio.get("format"), f"{param}.input_audio.format")
    elif kind == "file":
        _object(part.get("file"), f"{param}.file")
    elif kind != "refusal":
        msg = f"'{param}.type' {kind!r} is not a content part type"
        raise _bad(msg, f"{param}.type")


def _tool_calls(value: object, param: str) -> None:
    for call, where in _objects(value, param):
        _string(call.get("id"), f"{where}.id")
        function = call.get("function")
        _object(function, f"{where}.function")
        assert isinstance(function, dict)  # noqa: S101
        _string(function.get("name"), f"{where}.function.name")
        _string(function.get("arguments"), f"{where}.function.arguments")


def _messages(value: object, param: str) -> None:
    if not isinstance(value, list) or not value:
        msg = f"'{param}' must be a non-empty array"
        raise _bad(msg, param)
    for message, where in _objects(value, param):
        role = message.get("role")
        if role not in _ROLES:
            msg = f"'{where}.role' must be one of {', '.join(sorted(_ROLES))}"
            raise _bad(msg, f"{where}.role")
        content = message.get("content")
        if isinstance(content, list):
            for number, part in enumerate(content):
                _part(part, f"{where}.content[{number}]")
        elif content is not None:
            _string(content, f"{where}.content")
        elif role in ("system", "developer", "user", "tool"):
            msg = f"'{where}.content' is required for a {role} message"
            raise _bad(msg, f"{where}.content")
        for field, check in (("name", _string), ("tool_call_id", _string)):
            if message.get(field) is not None:
                check(message[field], f"{where}.{field}")
        if message.get("tool_calls") is not None:
            _tool_calls(message["tool_calls"], f"{where}.tool_calls")
        if role == "tool":
            _string(message.get("tool_call_id"), f"{where}.tool_call_id")


def _parameter(check: Callable[[Mapping[str, Any]], object]) -> Callable[[object, str], None]:
    """A field check that asks :mod:`lmux_plug.params` and answers its verdict as a 400."""

    def checked(value: object, param: str) -> None:
        try:
            check({param: value})
        except InvalidParameterError as exc:
            # params names a mapping's entry ``logit_bias['50256']``; the wire says
            # ``logit_bias.50256``, as for every other path in a body.
            where = re.sub(r"\['([^']*)'\]", r".\1", exc.param)
            raise _bad(exc.message, where) from None

    return checked


_chat_value = _parameter(check_chat_params)
_embed_value = _parameter(check_embed_params)

# The fields whose JSON shape is checked here; every other field lmux-plug knows as a call
# parameter is checked by value (``_chat_value``).
_CHAT_SHAPES: Mapping[str, Callable[[object, str], None]] = {
    "messages": _messages,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "stream": _boolean,
    "stream_options": _stream_options,
    "modalities": _of(list, "an array"),
    "prediction": _object,
    "audio": _object,
    "functions": _list,
    "function_call": _of((str, dict), "a string or an object"),
}
_CHAT_VALUES = tuple(
    sorted(
        name
        for name in CHAT_PARAMETERS - _CHAT_SHAPES.keys()
        if name not in ("timeout", "extra_headers", "extra_body")  # not body fields
    )
)


def check_chat(body: Mapping[str, Any]) -> None:
    """400 unless ``body`` is a well-formed chat completions request (model checked apart)."""
    if "messages" not in body:
        raise _bad("'messages' is required", "messages")
    for field, check in _CHAT_SHAPES.items():
        value = body.get(field)
        if value is not None or field == "messages":
            check(value, field)
    for field in _CHAT_VALUES:
        value = body.get(field)
        if value is not None:
            _chat_value(value, field)


def check_embeddings(body: Mapping[str, Any]) -> None:
    """400 unless ``body`` is a well-formed embeddings request (model checked apart)."""
    inputs = body.get("input")
    if isinstance(inputs, list) and inputs and all(isinstance(t, int) for t in inputs):
        raise _bad("token-array input is not supported; send text", "input")
    if not (
        isinstance(inputs, str)
        or (isinstance(inputs, list) and inputs and all(isinstance(t, str) for t in inputs))
    ):
        raise _bad("'input' must be a string or a non-empty array of strings", "input")
    for field in ("encoding_format", "dimensions"):
        if body.get(field) is not None:
            _embed_value(body[field], field)
    if body.get("user") is not None:
        _string(body["user"], "user")
