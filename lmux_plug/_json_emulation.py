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

Streamed answers get the same treatment through :class:`JsonStreamFilter`: a leading code
fence is dropped, the JSON value's text streams through as it arrives, whatever follows the
value (a closing fence, prose) is dropped, and the whole is checked when the stream ends.
An answer that opens with prose is held back and its JSON sent as one piece at the end.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug._types import ChatRequest
from lmux_plug._types import JsonObjectResponseFormat
from lmux_plug._types import JsonSchemaResponseFormat
from lmux_plug._types import ProviderSpec
from lmux_plug._types import SystemMessage
from lmux_plug.codec import JsonNesting

if TYPE_CHECKING:
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import ResponseFormat

__all__ = ["JsonStreamFilter", "emulated_format", "extract_json", "prepare", "settle"]

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


def _checked_json(
    text: str | None, fmt: ResponseFormat, *, tool_called: bool, context: dict[str, Any]
) -> str | None:
    """The JSON ``text`` holds, re-serialised and checked against ``fmt``'s schema.

    ``None`` when the model called a tool instead of answering; ``OutputParseError`` (with
    the raw text) when there is no JSON or it does not fit.
    """
    from lmux_plug.batch.structured import OutputParseError  # noqa: PLC0415
    from lmux_plug.batch.structured import validate  # noqa: PLC0415

    if not text:
        if tool_called:
            return None  # the model called a tool instead: nothing to settle
        msg = "the model sent no text where JSON was asked for"
        raise OutputParseError(msg, raw=text, **context)
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
    return json.dumps(value, ensure_ascii=False)


def settle(response: ChatResponse, fmt: ResponseFormat) -> ChatResponse:
    """``response`` with its content cut down to the JSON it holds (checked against the schema)."""
    context: dict[str, Any] = {
        "provider": response.provider,
        "model": response.model,
        "request_id": response.request_id,
    }
    content = _checked_json(
        response.content, fmt, tool_called=bool(response.tool_calls), context=context
    )
    if content is None:
        return response
    return attrs.evolve(response, content=content)


class JsonStreamFilter:
    """Cuts streamed text down to the JSON value it holds, as :func:`settle` does for a whole.

    ``feed`` takes each text delta and returns what to pass on; ``finish`` (at the terminal
    chunk) returns what was held back and checks the whole, raising ``OutputParseError`` as
    :func:`settle` does. Scanning is incremental: each character is looked at once.
    """

    __slots__ = ("_context", "_fmt", "_held", "_nesting", "_seen", "_state")

    def __init__(self, fmt: ResponseFormat, *, provider: str, model: str) -> None:
        self._fmt = fmt
        self._context: dict[str, Any] = {"provider": provider, "model": model}
        self._state = "lead"  # lead -> value -> done, or lead -> held (prose first)
        self._held = ""  # lead text not yet decided on, or everything once prose came first
        self._seen: list[str] = []  # all text received, for the final check and errors
        self._nesting = JsonNesting()

    def feed(self, text: str) -> str:
        """What of ``text`` to pass on now."""
        if not text:
            return ""
        self._seen.append(text)
        if self._state == "lead":
            return self._lead(text)
        if self._state == "value":
            return self._value(text)
        if self._state == "held":
            self._held += text
        return ""

    def _lead(self, text: str) -> str:
        held = (self._held + text).lstrip()
        while held.startswith("```"):
            end = held.find("\n")
            if end < 0:  # the fence line ("```json") is not complete yet
                self._held = held
                return ""
            held = held[end + 1 :].lstrip()
        self._held = ""
        if not held:
            return ""
        if held[0] in "{[":
            self._state = "value"
            return self._value(held)
        self._state = "held"  # prose first: the JSON is found in the whole at the end
        self._held = held
        return ""

    def _value(self, text: str) -> str:
        end = self._nesting.end_in(text)
        if end is None:
            return text
        self._state = "done"
        return text[:end]

    def finish(self, *, tool_called: bool = False) -> str:
        """What was held back (the JSON, when prose came first); checks the whole answer."""
        whole = "".join(self._seen)
        content = _checked_json(whole, self._fmt, tool_called=tool_called, context=self._context)
        if self._state == "held" and content is not None:
            return content
        if self._state == "value":  # the value never closed: cut short
            from lmux_plug.batch.structured import OutputParseError  # noqa: PLC0415

            msg = f"the streamed JSON is incomplete: {whole[-200:]!r}"
            raise OutputParseError(msg, raw=whole, **self._context)
        return ""
