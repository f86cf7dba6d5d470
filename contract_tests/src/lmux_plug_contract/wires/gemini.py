"""Google Gemini API wire: ``models/<id>:generateContent`` and ``:streamGenerateContent``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from lmux_plug import FinishReason
from lmux_plug import ToolCall
from lmux_plug import Usage

from lmux_plug_contract.wires._base import EVERY_TOOL_CHOICE
from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Pieces
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import ToolUse
from lmux_plug_contract.wires._base import WireFormat
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires._base import unknown_tool_choice
from lmux_plug_contract.wires._said import Said
from lmux_plug_contract.wires._said import keyed_part

__all__ = ["GeminiWire"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _usage(usage: Usage) -> dict[str, int]:
    # Gemini counts the reasoning apart from the answer (thoughtsTokenCount).
    counts = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning_tokens,
        "totalTokenCount": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        counts["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cache_read_tokens:
        # Cached tokens are part of the prompt's count, reported again on their own.
        counts["cachedContentTokenCount"] = usage.cache_read_tokens
    return counts


def _json_reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    """``body`` as the API sends JSON (its content type names the charset)."""
    return Reply.with_body(
        json_bytes(body), "application/json; charset=UTF-8", status=status, headers=headers
    )


def _frame(body: Any) -> bytes:
    """``body`` in one SSE ``data:`` frame (the API ends each with CRLF CRLF)."""
    return b"data: " + json_bytes(body) + b"\r\n\r\n"


def _call_part(call: ToolCall) -> dict[str, Any]:
    """A whole ``functionCall`` part (Gemini sends arguments as an object, never in pieces)."""
    return {"functionCall": {"name": call.name, "args": json.loads(call.arguments)}}


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


_ROLES = {"model": "assistant", "function": "user"}
#: The values of the API's ThinkingLevel (``generationConfig.thinkingConfig``).
_THINKING_LEVELS = ("minimal", "low", "medium", "high")
#: Gemini 2.5's ``thinkingBudget`` per model family (the longest matching prefix wins):
#: the smallest budget that turns thinking on, the largest the model takes, and whether 0
#: (thinking off) is allowed. Pro cannot turn thinking off; -1 (dynamic) is always taken.
_BUDGET_RANGES = (
    ("gemini-2.5-flash-lite", 512, 24576, True),
    ("gemini-2.5-flash", 1, 24576, True),
    ("gemini-2.5-pro", 128, 32768, False),
)
#: What a model answers to a JSON request whose body does not ask for JSON.
_PROSE = "It is sunny in Paris, 21 degrees."


def _response_said(role: str, answer: Any) -> Said:
    """A ``functionResponse``: ``response.error`` marks a failure, ``result`` wraps text.

    ``response`` is a ``google.protobuf.Struct``: the API refuses anything but a JSON
    object there (a bare string or list is a 400), so it reads as ``other``.
    """
    response = answer.get("response")
    if not isinstance(response, dict):
        return Said(role, "other", f"functionResponse.response {response!r:.80}")
    error = "error" in response
    value = response.get("error" if error else "result", response)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return Said(role, "result", text, ref=answer.get("name"), error=error)


def _part_said(role: str, part: Any) -> Said:
    """One part of a ``contents`` entry as the Gemini API reads it."""
    if not isinstance(part, dict):
        return Said(role, "other", repr(part))
    signature = part.get("thoughtSignature")
    if "functionCall" in part:
        call = part["functionCall"]
        return Said.call(role, call.get("name"), call.get("args"), ref=call.get("name"))
    if "functionResponse" in part:
        return _response_said(role, part["functionResponse"])
    if part.get("thought") is True:
        return Said(role, "thinking", str(part.get("text")), signature=signature)
    if "text" in part:
        return Said(role, "text", str(part["text"]), signature=signature)
    return Said(role, "other", ",".join(sorted(part)))


def _media_part(part: dict[str, Any]) -> tuple[str, str]:
    """An ``inlineData`` part (by its data) or a ``fileData`` part (by its URI)."""
    media = part.get("inlineData") or part.get("fileData")
    media = media if isinstance(media, dict) else {}
    kind = str(media.get("mimeType") or "").split("/", 1)[0]
    kind = kind if kind in ("image", "audio") else "file"
    if "inlineData" in part:
        return (kind, str(media.get("data")))
    uri = str(media.get("fileUri"))
    # A linked image is read by its URL; any other uploaded file by its id.
    return ("image", uri) if kind == "image" else ("file", f"id:{uri}")


def _budget_refusal(model: str, budget: int) -> str | None:
    """Why ``model`` refuses ``thinkingBudget`` ``budget`` (not -1), or None."""
    for prefix, lowest, highest, can_turn_off in _BUDGET_RANGES:
        if model.startswith(prefix):
            if budget == 0 and not can_turn_off:
                return f"{model} cannot turn thinking off (thinkingBudget 0)"
            if budget != 0 and not lowest <= budget <= highest:
                return f"thinkingBudget {budget} is out of {model}'s range {lowest}-{highest}"
            return None
    return None


class GeminiWire(WireFormat):
    """``generateContent``; streams with ``alt=sse``; ``batchEmbedContents`` (no usage)."""

    name = "gemini"
    tool_finish = FinishReason.TOOL_CALLS
    #: Every tool choice the API takes (``requests.tool_choice`` fails one refused as invalid).
    tool_choices = EVERY_TOOL_CHOICE
    #: A function response reports a failure as ``response.error``.
    marks_tool_errors = True
    embed_usage = False
    #: ``requests.nested_extra``: sampling parameters live in ``generationConfig``; a caller
    #: adds ``topK`` (no typed parameter) there through ``extra_body``.
    parameters_object = ("generationConfig", {"topK": 7})
    #: ``types.cached_usage``: ``usageMetadata.cachedContentTokenCount`` reports cache reads
    #: (counted in ``promptTokenCount`` too); the API reports no cache writes.
    cache_usage = ("read",)
    #: ``types.request_id``: the ``responseId`` of every answer and stream event.
    answer_id = "contract-response"
    #: ``requests.stop_limit``: ``generationConfig.stopSequences`` takes at most five.
    max_stop_sequences = 5
    #: ``errors.context_length``: the API's 400 INVALID_ARGUMENT for a prompt too long.
    context_overflow_message = (
        "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)."
    )

    def _response(
        self,
        request: CapturedRequest,
        parts: list[dict[str, Any]],
        finish: str | None,
        usage: Usage | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "candidates": [_candidate(parts, finish)],
            "modelVersion": request.model_hint,
            "responseId": "contract-response",
        }
        if usage is not None:
            body["usageMetadata"] = _usage(usage)
        return body

    def _part_frame(self, request: CapturedRequest, part: dict[str, Any]) -> bytes:
        """A stream frame carrying ``part`` before the last one (no finish, no usage)."""
        return _frame(self._response(request, [part], None, None))

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """Gemini streams on the ``:streamGenerateContent`` method, whatever the body says."""
        return request.path.endswith(":streamGenerateContent")

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """One candidate with one text part."""
        body = self._response(request, [{"text": text}], "STOP", usage)
        return _json_reply(body)

    def tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """One candidate whose part is a whole ``functionCall``."""
        return self.tool_calls_chat(request, (call,), usage)

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """One SSE frame per piece; the last carries ``finishReason`` and the usage."""
        return self._text_stream(request, pieces, usage, "STOP")

    def _text_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage, finish: str
    ) -> StreamRendering:
        frames = [self._part_frame(request, {"text": piece}) for piece in pieces[:-1]]
        last = self._response(request, [{"text": pieces[-1]}], finish, usage)
        frames.append(_frame(last))
        return StreamRendering("text/event-stream", tuple(frames), 1)

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer the output limit ended (``types.length_finish``): ``MAX_TOKENS``."""
        body = self._response(request, [{"text": text}], "MAX_TOKENS", usage)
        return _json_reply(body)

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer whose last frame says ``finishReason: MAX_TOKENS``."""
        return self._text_stream(request, pieces, usage, "MAX_TOKENS")

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Gemini sends a whole ``functionCall`` (no argument fragments) in the last frame."""
        return self.tool_calls_stream(request, (call,), (fragments,), usage)

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``tools[].functionDeclarations[].name``; ``toolConfig.functionCallingConfig``.

        ``mode`` AUTO (default), ANY or NONE; ``allowedFunctionNames`` narrows ANY.
        """
        body = request.json() or {}
        names = frozenset(
            str(d.get("name"))
            for t in body.get("tools") or ()
            if isinstance(t, dict)
            for d in t.get("functionDeclarations") or ()
            if isinstance(d, dict)
        )
        given = (body.get("toolConfig") or {}).get("functionCallingConfig")
        if given is not None and not names:
            # The API's 400: "Function calling config is set without function_declarations."
            raise unknown_tool_choice(given)
        config = given or {"mode": "AUTO"}
        mode = config.get("mode", "AUTO") if isinstance(config, dict) else None
        allowed = config.get("allowedFunctionNames") if isinstance(config, dict) else None
        if mode in ("AUTO", "NONE") and allowed is None:
            return ToolUse(forced=False, callable=frozenset() if mode == "NONE" else names)
        if mode == "ANY" and names:
            narrowed = names if allowed is None else frozenset(map(str, allowed))
            if narrowed and narrowed <= names:
                return ToolUse(forced=True, callable=narrowed)
        raise unknown_tool_choice(config)

    def reasoning_enabled(self, request: CapturedRequest) -> bool:
        """Whether ``thinkingConfig`` asks for thinking (a level, or a budget other than 0)."""
        config = (request.json() or {}).get("generationConfig")
        thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
        if not isinstance(thinking, dict):
            return False
        return "thinkingLevel" in thinking or thinking.get("thinkingBudget", -1) != 0

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """Why the API refuses ``generationConfig.thinkingConfig``, or None when it takes it.

        Read by ``reasoning.effort_levels``: ``thinkingLevel`` (Gemini 3) is one of the API's
        levels, ``thinkingBudget`` (Gemini 2.5) a count from -1 (dynamic) to 32768, never
        both; a Gemini 2.x model takes no level, and its budget lies in the model's range
        (Flash up to 24576, Flash-Lite from 512, Pro from 128 and never 0).
        """
        config = (request.json() or {}).get("generationConfig")
        thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
        if not isinstance(thinking, dict):
            return None
        level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
        if level is not None and budget is not None:
            return "thinkingLevel and thinkingBudget cannot both be set"
        if level is not None and level not in _THINKING_LEVELS:
            return f"thinkingLevel {level!r} is not one of {', '.join(_THINKING_LEVELS)}"
        if budget is not None and (type(budget) is not int or not -1 <= budget <= 32768):
            return f"thinkingBudget {budget!r} is not between -1 and 32768"
        model = request.model_hint.removeprefix("models/")
        if level is not None and model.startswith(("gemini-1", "gemini-2")):
            return f"{model} takes a thinkingBudget, not a thinkingLevel"
        if budget is not None and budget != -1:
            return _budget_refusal(model, budget)
        return None

    def thinking_budget(self, request: CapturedRequest) -> int | None:
        """``thinkingBudget`` (0 turns thinking off); -1 (dynamic) as the most the model takes.

        Dynamic thinking lets the model spend up to its range's top, so it counts as that
        (None where the range is unknown, and for a Gemini 3 ``thinkingLevel``).
        """
        config = (request.json() or {}).get("generationConfig")
        thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
        budget = thinking.get("thinkingBudget") if isinstance(thinking, dict) else None
        if budget == -1:
            ends = self.budget_range(request.model_hint.removeprefix("models/"))
            return ends[1] if ends else None
        return budget if type(budget) is int and budget >= 0 else None

    def budget_range(self, model: str) -> tuple[int, int | None] | None:
        """The fewest and most thinking tokens ``model`` takes (Gemini 2.5), or None."""
        for prefix, lowest, highest, _ in _BUDGET_RANGES:
            if model.startswith(prefix):
                return (lowest, highest)
        return None

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user content's parts: ``text``, ``inlineData``, ``fileData``."""
        body = request.json() or {}
        users = [c for c in body.get("contents") or () if c.get("role", "user") == "user"]
        parts = (users[-1].get("parts") if users else ()) or ()
        return [keyed_part(part, _media_part) for part in parts]

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``systemInstruction.parts``, then each ``contents`` entry's parts.

        Gemini's ``model`` role is the assistant; a ``function`` role is the user's side.
        """
        body = request.json() or {}
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        said = [_part_said("system", p) for p in system.get("parts") or ()]
        for content in body.get("contents") or ():
            role = str(content.get("role", "user"))
            role = _ROLES.get(role, role)
            said.extend(_part_said(role, part) for part in content.get("parts") or ())
        return said

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """Thought parts (``thought: true``), then the text part carrying the signature."""
        body = self._response(request, self._thinking_parts(thinking, text), "STOP", usage)
        return _json_reply(body)

    def _thinking_parts(self, thinking: Thoughts, text: str) -> list[dict[str, Any]]:
        # Gemini has no redacted reasoning; the signature comes on the first answer part.
        parts: list[dict[str, Any]] = [
            {"text": b.text, "thought": True} for b in thinking if not b.redacted
        ]
        signatures = [b.signature for b in thinking if b.signature and not b.redacted]
        answer: dict[str, Any] = {"text": text}
        if signatures:
            answer["thoughtSignature"] = signatures[0]
        return [*parts, answer]

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A frame per thought part, then the text: its first frame carries the signature."""
        *thoughts, first = self._thinking_parts(thinking, pieces[0])
        frames = [self._part_frame(request, part) for part in (*thoughts, first)]
        text = self.stream(request, pieces[1:], usage) if len(pieces) > 1 else None
        rest = text.frames if text is not None else ()
        return StreamRendering("text/event-stream", (*frames, *rest), 1)

    def json_chat(self, request: CapturedRequest, document: Any, usage: Usage) -> Reply:
        """JSON as the text when ``generationConfig.responseMimeType`` asks for it, else prose."""
        return self.chat(request, self._json_text(request, document), usage)

    def json_stream(
        self, request: CapturedRequest, document: Any, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The JSON in ``pieces`` when the body asks for JSON, else prose."""
        asked = self._json_text(request, document) != _PROSE
        return self.stream(request, pieces if asked else (_PROSE,), usage)

    def _json_text(self, request: CapturedRequest, document: Any) -> str:
        # Without responseMimeType application/json the model answers as it likes: prose.
        config = (request.json() or {}).get("generationConfig") or {}
        asked = config.get("responseMimeType") == "application/json"
        return json.dumps(document, ensure_ascii=False) if asked else _PROSE

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """One ``functionCall`` part per call in one candidate."""
        body = self._response(request, [_call_part(c) for c in calls], "STOP", usage)
        return _json_reply(body)

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """Parallel calls arrive together: one frame, one whole ``functionCall`` part each."""
        body = self._response(request, [_call_part(c) for c in calls], "STOP", usage)
        return StreamRendering("text/event-stream", (_frame(body),), 1)

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``requests[].content.parts[].text`` (batch) or ``content.parts[].text``."""
        body = request.json() or {}
        items = body.get("requests") or [body]
        texts = []
        for item in items:
            parts = (item.get("content") or {}).get("parts") or []
            texts.append("".join(str(p.get("text", "")) for p in parts))
        return texts

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """``{"embeddings": [{"values"}]}``, or ``{"embedding": ...}`` for ``embedContent``."""
        if request.path.endswith(":embedContent"):
            body: dict[str, Any] = {"embedding": {"values": list(vectors[0])}}
        else:
            body = {"embeddings": [{"values": list(v)} for v in vectors]}
        return _json_reply(body)

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"error": {"code", "message", "status"}}`` with the gRPC status name."""
        body = {
            "error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
        }
        return _json_reply(body, status, headers)

    def stream_error(self, message: str) -> bytes:
        """An ``error`` object in a ``data:`` frame."""
        return _frame({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})

    def stream_error_for(self, status: int, message: str) -> bytes:
        """The ``error`` object of HTTP ``status`` (gRPC status name) in a ``data:`` frame."""
        error = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
        return _frame({"error": error})
