"""Small sans-IO helpers that provider codecs share, for plugin authors.

Each helper does one wire-independent job the same way for every plugin that uses it:
putting a request's sampling parameters under a wire's names, reading a count from a wire
body, turning a tool call's JSON argument text into the object a wire wants, giving a tool
call without an id a stable one, checking a reasoning effort, adding a message's blocks to
a conversation whose roles must alternate, reading the JSON object of one stream event,
checking an embeddings answer holds one entry per input, merging a request's ``extra`` body
fields, reading the objects of a JSON array defensively, finding where a JSON value that
arrives in pieces ends (:class:`JsonNesting`).
Nothing here does I/O or imports aiohttp, so a codec stays cheap to import and to test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lmux_plug._types import ChatRequest
from lmux_plug._types import ToolCall
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import ProviderError
from lmux_plug.params import REASONING_EFFORTS

__all__ = [
    "REASONING_EFFORTS",
    "JsonNesting",
    "add_turn",
    "count_of",
    "json_object",
    "merge_extra",
    "objects_of",
    "one_per_input",
    "reasoning_level",
    "sampling",
    "stream_event",
    "tool_arguments",
    "tool_call_id",
]


class JsonNesting:
    """Follow the nesting of JSON text fed a piece at a time, to find where a value ends.

    Brackets inside strings (escaped quotes included) do not count. ``opens`` and ``closes``
    name the brackets that do: both kinds by default (any object or array), ``"{"`` and
    ``"}"`` to cut a stream of objects. Each character is looked at once, whatever the pieces.
    """

    __slots__ = ("_closes", "_escaped", "_in_string", "_opens", "depth")

    def __init__(self, opens: str = "{[", closes: str = "}]") -> None:
        self._opens = opens
        self._closes = closes
        #: How many counted brackets are open after the text fed so far.
        self.depth = 0
        self._in_string = False
        self._escaped = False

    def end_in(self, text: str, start: int = 0) -> int | None:
        """The index just past the bracket in ``text[start:]`` that closes the outermost value.

        ``None`` when the piece ends first: the state carries over to the next piece.
        """
        for index in range(start, len(text)):
            char = text[index]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in self._opens:
                self.depth += 1
            elif char in self._closes:
                self.depth -= 1
                if self.depth == 0:
                    return index + 1
        return None


def count_of(body: Mapping[str, Any], key: str) -> int:
    """A token count at ``body[key]``: a missing, negative or non-integer value counts as 0."""
    value = body.get(key)
    return value if isinstance(value, int) and value >= 0 else 0


def objects_of(value: object) -> list[Mapping[str, Any]]:
    """The JSON objects of a decoded JSON array, in order (the ``Mapping`` elements of ``value``).

    How codecs read a wire's list fields (content blocks, output items, segments): an
    absent field or one that is not a list holds nothing, and an element that is not an
    object is skipped, so a decoder reads what it understands and ignores the rest.
    """
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def add_turn(
    turns: list[dict[str, Any]], role: str, blocks: list[Any], *, key: str = "content"
) -> None:
    """Append ``{"role": role, key: blocks}`` to ``turns``, or extend the last turn's blocks.

    For wires whose roles must alternate (Anthropic, Gemini, Bedrock Converse): consecutive
    messages of one role, such as the results of parallel tool calls, become one turn.
    """
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def tool_arguments(
    call: ToolCall, *, index: int, provider: str, model: str | None
) -> dict[str, Any]:
    """The JSON object in ``call.arguments`` (blank text is ``{}``), for wires that want one.

    Raises :class:`InvalidRequestError` naming message ``index`` and the call id when the
    text is not JSON or not a JSON object, so the request fails before any network I/O.
    """
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        msg = f"message {index}: tool call {call.id!r} arguments are not valid JSON"
        raise InvalidRequestError(msg, provider=provider, model=model) from exc
    if not isinstance(value, dict):
        msg = f"message {index}: tool call {call.id!r} arguments must be a JSON object"
        raise InvalidRequestError(msg, provider=provider, model=model)
    return value


def tool_call_id(given: object, name: object, arguments: object, *scope: object) -> str:
    """``given`` when it is a non-empty string, else an id derived from the call itself.

    Some wires send tool calls without ids. The derived id hashes ``scope`` (for example a
    response id and the call's position), the name and the arguments (as sorted JSON), so
    decoding the same bytes always yields the same ids and distinct calls distinct ones.
    """
    if isinstance(given, str) and given:
        return given
    seed = ":".join([*(str(s) for s in scope), str(name), json.dumps(arguments, sort_keys=True)])
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:16]


def reasoning_level(effort: str, *, provider: str, model: str | None) -> str:
    """``effort`` lower-cased, checked against :data:`REASONING_EFFORTS`.

    Raises :class:`InvalidRequestError` listing the accepted values otherwise.
    """
    level = effort.lower()
    if level not in REASONING_EFFORTS:
        msg = f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got {effort!r}"
        raise InvalidRequestError(msg, provider=provider, model=model)
    return level


def stream_event(
    text: str | bytes,
    *,
    what: str,
    provider: str | None,
    model: str | None,
    request_id: str | None = None,
) -> Mapping[str, Any]:
    """The JSON object one stream event carries (an SSE ``data:`` field, an NDJSON line).

    Raises :class:`ProviderError` for malformed JSON (``malformed JSON in <what>: ...``, with
    the first 200 characters) and for JSON that is not an object (``<what> is not a JSON
    object``), so every codec reports a garbled stream the same way. ``what`` names the
    event for the message (``"Cohere stream event"``).
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"malformed JSON in {what}: {text[:200]!r}"
        raise ProviderError(msg, provider=provider, model=model, request_id=request_id) from exc
    return json_object(value, what=what, provider=provider, model=model, request_id=request_id)


def json_object(
    value: object,
    *,
    what: str,
    provider: str | None,
    model: str | None,
    request_id: str | None = None,
) -> Mapping[str, Any]:
    """``value`` (parsed JSON) when it is an object, else a ``ProviderError``.

    The message is ``<what> is not a JSON object``; for decoders of answer bodies
    (``what``: ``"Gemini response"``) and, through :func:`stream_event`, of stream events.
    """
    if not isinstance(value, Mapping):
        msg = f"{what} is not a JSON object"
        raise ProviderError(msg, provider=provider, model=model, request_id=request_id)
    return value


def one_per_input(
    items: object,
    expected: int,
    *,
    source: str,
    what: str = "embeddings",
    provider: str | None,
    model: str | None,
) -> list[Any]:
    """``items`` when it is a list of exactly ``expected`` entries: one per input, in order.

    Otherwise :class:`ProviderError` ``<source> returned <n, or no> <what> for <expected>
    inputs``: vectors missing or extra must never be paired with the wrong texts. ``source``
    names the service (``"Gemini"``), ``what`` the entries (``"predictions"``).
    """
    if not isinstance(items, list) or len(items) != expected:
        count = len(items) if isinstance(items, list) else "no"
        msg = f"{source} returned {count} {what} for {expected} inputs"
        raise ProviderError(msg, provider=provider, model=model)
    return items


def sampling(
    request: ChatRequest,
    *,
    provider: str | None,
    temperature: str | None = "temperature",
    top_p: str | None = "top_p",
    max_tokens: str | None = "max_tokens",
    stop: str | None = "stop",
    seed: str | None = "seed",
) -> dict[str, Any]:
    """The sampling parameters ``request`` sets, under the wire's names.

    Each keyword names the wire's key for that field of the request (Gemini:
    ``top_p="topP"``); ``None`` is for a field the wire does not carry. Unset fields are
    left out; ``stop`` goes as a list; a ``max_tokens`` below 1 is refused with
    :class:`InvalidRequestError` before any I/O.
    """
    names = (
        ("temperature", temperature),
        ("top_p", top_p),
        ("max_tokens", max_tokens),
        ("stop", stop),
        ("seed", seed),
    )
    out: dict[str, Any] = {}
    for field, key in names:
        value = getattr(request, field)
        if key is None or value is None or (field == "stop" and not value):
            continue
        if field == "max_tokens" and value < 1:
            msg = "max_tokens must be >= 1"
            raise InvalidRequestError(msg, provider=provider, model=request.model)
        out[key] = list(value) if field == "stop" else value
    return out


def merge_extra(
    body: dict[str, Any], extra: Mapping[str, Any], *, nested: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``body`` with the caller's ``extra`` fields merged in last, and returned.

    A field in ``nested`` (a section the codec fills itself, such as Gemini's
    ``generationConfig``) is merged key by key when both values are objects, so the
    caller adds to it instead of replacing it; any other field is set as given.
    """
    for key, value in extra.items():
        if key in nested and isinstance(value, Mapping):
            body[key] = {**body.get(key, {}), **value}
        else:
            body[key] = value
    return body
