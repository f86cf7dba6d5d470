"""JSON mode emulated for providers without native ``json_object`` / ``json_schema``.

A provider lists the formats the core emulates for it in
``ProviderSpec.options["emulate_json"]`` (``("json_object",)``, ``("json_schema",)`` or
both) and declares the matching capabilities, since through the core it has them. For such a
call the request the plugin receives has no ``response_format``; instead one system message
asking for JSON (with the schema, for ``json_schema``) comes first. The caller's messages are
not touched: the request holds a new tuple. The answer's text is then cut down to the JSON
(code fences and surrounding prose removed) and checked, so ``content`` is JSON text as with
native JSON mode; an answer that holds no JSON (or JSON that does not fit the schema) raises
``OutputParseError`` with the raw text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from lmux_plug._types import (
    ChatRequest,
    JsonObjectResponseFormat,
    JsonSchemaResponseFormat,
    ProviderSpec,
    SystemMessage,
)

if TYPE_CHECKING:
    from lmux_plug._types import ChatResponse, ResponseFormat

__all__ = ["emulated_format", "extract_json", "prepare", "settle"]

_OBJECT = "Answer with a single JSON object and nothing else: no prose, no Markdown, no code fence."


def emulated_format(spec: ProviderSpec, request: ChatRequest) -> ResponseFormat | None:
    """The request's JSON format when the core emulates it for this provider, else None."""
    fmt = request.response_format
    if not isinstance(fmt, (JsonObjectResponseFormat, JsonSchemaResponseFormat)):
        return None
    emulated = spec.options.get("emulate_json") or ()
    return fmt if fmt.type in emulated else None


def prepare(request: ChatRequest, fmt: ResponseFormat) -> ChatRequest:
    """A copy of ``request`` asking for JSON in a leading system message, without the format."""
    instruction = _OBJECT
    if isinstance(fmt, JsonSchemaResponseFormat):
        schema = json.dumps(dict(fmt.schema), separators=(",", ":"))
        instruction += f" It must validate against this JSON schema ({fmt.name}): {schema}"
    messages = (SystemMessage(instruction), *request.messages)
    return attrs.evolve(request, messages=messages, response_format=None)


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (fenced or among prose); ValueError if none."""
    decoder = json.JSONDecoder()
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for start, char in enumerate(stripped):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(stripped, start)
            except ValueError:
                continue
            return value
    msg = "no JSON object in the answer"
    raise ValueError(msg)


def settle(response: ChatResponse, fmt: ResponseFormat) -> ChatResponse:
    """``response`` with its content cut down to the JSON it holds (checked against the schema)."""
    from lmux_plug.batch.structured import OutputParseError, validate  # noqa: PLC0415

    context: dict[str, Any] = {
        "provider": response.provider,
        "model": response.model,
        "request_id": response.request_id,
    }
    text = response.content
    if text is None:
        if response.tool_calls:
            return response  # the model called a tool instead: nothing to settle
        msg = "the model sent no text where JSON was asked for"
        raise OutputParseError(msg, raw=None, **context)
    try:
        value = extract_json(text)
    except ValueError:
        msg = f"the answer holds no JSON: {text[:200]!r}"
        raise OutputParseError(msg, raw=text, **context) from None
    if isinstance(fmt, JsonSchemaResponseFormat):
        problems = validate(value, fmt.schema)
        if problems:
            msg = f"the JSON does not fit schema {fmt.name!r}: {'; '.join(problems[:5])}"
            raise OutputParseError(msg, raw=text, **context)
    return attrs.evolve(response, content=json.dumps(value, ensure_ascii=False))
