"""Anthropic Messages wire: ``POST /v1/messages``, named SSE events."""

from __future__ import annotations

import base64
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
from lmux_plug_contract.wires._base import edit_json
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires._base import unknown_tool_choice
from lmux_plug_contract.wires._said import Said

__all__ = ["MIN_THINKING_BUDGET", "AnthropicWire", "thinking_refusal"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _result_text(content: Any) -> str:
    # A tool_result's content is a string or a list of text blocks.
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def _said(role: str, block: Any) -> Said:
    """One content block of a ``messages`` turn as the Messages API reads it."""
    if isinstance(block, str):
        return Said(role, "text", block)
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return Said(role, "text", str(block.get("text")))
    if kind == "tool_use":
        return Said.call(role, block.get("name"), block.get("input"), ref=block.get("id"))
    if kind == "tool_result":
        text = _result_text(block.get("content"))
        error = block.get("is_error") is True
        return Said(role, "result", text, ref=block.get("tool_use_id"), error=error)
    if kind == "thinking":
        signature = block.get("signature")
        return Said(role, "thinking", str(block.get("thinking")), signature=signature)
    if kind == "redacted_thinking":
        return Said(role, "redacted", str(block.get("data")))
    return Said(role, "other", str(kind))


def _content_part(block: Any) -> tuple[str, str]:
    """One block of a user turn as ``requests.content_parts`` names it."""
    kind = block.get("type") if isinstance(block, dict) else None
    source = block.get("source") if isinstance(block, dict) else None
    source = source if isinstance(source, dict) else {}
    if kind == "text":
        return ("text", str(block.get("text")))
    if kind in ("image", "document") and source.get("type") in ("base64", "url"):
        value = source.get("data") if source.get("type") == "base64" else source.get("url")
        return ("image" if kind == "image" else "file", str(value))
    if kind == "document" and source.get("type") == "file":
        return ("file", f"id:{source.get('file_id')}")
    if kind == "document" and source.get("type") == "text":
        # A plain-text document travels decoded; named by its base64 like any file.
        return ("file", base64.b64encode(str(source.get("data")).encode()).decode())
    return (str(kind), json.dumps(source, sort_keys=True))


def _forced_tool(body: Mapping[str, Any]) -> str | None:
    """The tool a Messages body makes the model call, if it forces exactly one."""
    names = [t.get("name") for t in body.get("tools") or () if isinstance(t, dict)]
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool" and isinstance(choice, dict) and choice.get("name") in names:
        return str(choice["name"])
    if kind == "any" and len(names) == 1:
        return str(names[0])
    return None


def _thinking_blocks(thinking: Thoughts) -> list[dict[str, Any]]:
    return [
        {"type": "redacted_thinking", "data": b.text}
        if b.redacted
        else {"type": "thinking", "thinking": b.text, "signature": b.signature or ""}
        for b in thinking
    ]


def _event(name: str, payload: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_bytes(payload) + b"\n\n"


def _usage(usage: Usage, output_tokens: int) -> dict[str, int]:
    """A Messages ``usage`` object: ``input_tokens`` leaves out the cached prompt tokens.

    The API reports the tokens read from the cache and written to it apart
    (``cache_read_input_tokens``, ``cache_creation_input_tokens``); :class:`Usage` counts
    every prompt token in ``input_tokens``.
    """
    cached = usage.cache_read_tokens + usage.cache_creation_tokens
    counts = {"input_tokens": usage.input_tokens - cached, "output_tokens": output_tokens}
    if usage.cache_read_tokens:
        counts["cache_read_input_tokens"] = usage.cache_read_tokens
    if usage.cache_creation_tokens:
        counts["cache_creation_input_tokens"] = usage.cache_creation_tokens
    return counts


#: The smallest thinking budget the Messages API (and Claude on Bedrock) accepts.
MIN_THINKING_BUDGET = 1024


def thinking_refusal(thinking: Any, max_tokens: Any) -> str | None:
    """The API's refusal of an enabled ``thinking`` object, or None when it accepts it."""
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if type(budget) is not int or budget < MIN_THINKING_BUDGET:
        return f"thinking.budget_tokens: {budget!r} is below the minimum of {MIN_THINKING_BUDGET}"
    if type(max_tokens) is int and budget >= max_tokens:
        return f"max_tokens ({max_tokens}) must be greater than thinking.budget_tokens ({budget})"
    return None


class AnthropicWire(WireFormat):
    """Messages API; streams are ``message_start`` ... ``message_stop``; no embeddings."""

    name = "anthropic"
    tool_finish = FinishReason.TOOL_CALLS
    #: Every tool choice the API takes (``requests.tool_choice`` fails one refused as invalid).
    tool_choices = EVERY_TOOL_CHOICE
    #: Tool results carry an error flag; answers may hold redacted reasoning.
    marks_tool_errors = True
    redacts_thinking = True
    #: ``errors.context_length``: the Messages API's 400 invalid_request_error wording.
    context_overflow_message = "prompt is too long: 212112 tokens > 200000 maximum"
    #: ``types.cached_usage``: ``cache_read_input_tokens`` and ``cache_creation_input_tokens``.
    cache_usage = ("read", "write")
    #: ``tools.no_arguments``: a call without input streams no ``input_json_delta`` at all.
    streams_empty_input = True
    #: ``requests.tool_pairs``: the API refuses a tool result that answers no call of the
    #: message before it, a call without its result in the next one, and duplicate tools.
    pairs_tool_calls = True
    #: ``requests.temperature_range``: the Messages API takes temperatures from 0 to 1.
    temperature_max = 1.0
    embeddings = False
    embed_usage = False

    def _start(self, model: str, usage: Usage) -> bytes:
        message: dict[str, Any] = {
            "id": "msg_contract",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(usage, 1),
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _ending(self, stop_reason: str, usage: Usage) -> tuple[bytes, ...]:
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage.output_tokens},
        }
        return (_event("message_delta", delta), _event("message_stop", {"type": "message_stop"}))

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A ``message`` object with one text block."""
        body = {
            "id": "msg_contract",
            "type": "message",
            "role": "assistant",
            "model": request.model_hint,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _usage(usage, usage.output_tokens),
        }
        return Reply(
            200,
            {"content-type": "application/json", "request-id": "req_contract"},
            (json_bytes(body),),
        )

    def tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A ``message`` with one ``tool_use`` block (stop reason ``tool_use``)."""
        block = {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": json.loads(call.arguments),
        }
        body = {
            "id": "msg_contract",
            "type": "message",
            "role": "assistant",
            "model": request.model_hint,
            "content": [block],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": _usage(usage, usage.output_tokens),
        }
        return Reply(200, {"content-type": "application/json"}, (json_bytes(body),))

    def _text_block(self, pieces: Sequence[str], index: int) -> list[bytes]:
        """One text content block at ``index``: its start, a ping, a delta per piece, its stop."""
        opening = {"type": "text", "text": ""}
        frames = [
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            ),
            _event("ping", {"type": "ping"}),
        ]
        frames.extend(
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
            for piece in pieces
        )
        frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        return frames

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Text deltas in one content block, usage in ``message_delta``."""
        return self._text_stream(request, pieces, usage, "end_turn")

    def _text_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage, stop_reason: str
    ) -> StreamRendering:
        """One streamed text block whose ``message_delta`` says ``stop_reason``."""
        frames = [self._start(request.model_hint, usage), *self._text_block(pieces, 0)]
        ending = self._ending(stop_reason, usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A ``tool_use`` block whose input arrives as ``input_json_delta`` fragments."""
        frames = [self._start(request.model_hint, usage), *self._tool_block(call, fragments, 0)]
        ending = self._ending("tool_use", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def reasoning_enabled(self, request: CapturedRequest) -> bool:
        """Whether the body turns extended thinking on (``thinking.type: enabled``)."""
        thinking = (request.json() or {}).get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") == "enabled"

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """Why the Messages API refuses the body's ``thinking``, or None when it takes it.

        Read by ``reasoning.effort_levels``: an enabled budget must be at least 1024 tokens
        and below ``max_tokens``.
        """
        body = request.json() or {}
        return thinking_refusal(body.get("thinking"), body.get("max_tokens"))

    def thinking_budget(self, request: CapturedRequest) -> int | None:
        """``reasoning.budget_caps``: ``thinking.budget_tokens`` when thinking is enabled."""
        thinking = (request.json() or {}).get("thinking")
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        return budget if self.reasoning_enabled(request) and type(budget) is int else None

    def token_cap(self, request: CapturedRequest) -> int | None:
        """The output-token cap the API reads: ``max_tokens`` (None: none or not an int)."""
        cap = (request.json() or {}).get("max_tokens")
        return cap if type(cap) is int else None

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``tools[].name``; ``tool_choice.type`` auto (default), any, tool (``name``), none."""
        body = request.json() or {}
        names = frozenset(
            str(t.get("name")) for t in body.get("tools") or () if isinstance(t, dict)
        )
        choice = body.get("tool_choice", {"type": "auto"})
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind in ("auto", "none") or (kind == "any" and names):
            return ToolUse(forced=kind == "any", callable=frozenset() if kind == "none" else names)
        if kind == "tool" and choice.get("name") in names:
            return ToolUse(forced=True, callable=frozenset({str(choice["name"])}))
        raise unknown_tool_choice(choice)

    def json_chat(self, request: CapturedRequest, document: Any, usage: Usage) -> Reply:
        """A JSON-mode answer as the model gives it: the input of the tool the body forces.

        The Messages API has no JSON mode; a plugin emulates it with a tool the request
        forces (``tool_choice`` naming it, or ``any`` with that one tool). Not forced, the
        model answers in text.
        """
        forced = _forced_tool(request.json() or {})
        if forced is None:
            return self.chat(request, json.dumps(document, ensure_ascii=False), usage)
        call = ToolCall(id="toolu_contract_json", name=forced, arguments=json.dumps(document))
        return self.tool_chat(request, call, usage)

    def json_stream(
        self, request: CapturedRequest, document: Any, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The streamed JSON-mode answer: the forced tool's input in ``pieces``, else text."""
        forced = _forced_tool(request.json() or {})
        if forced is None:
            return self.stream(request, pieces, usage)
        call = ToolCall(id="toolu_contract_json", name=forced, arguments="".join(pieces))
        return self.tool_stream(request, call, pieces, usage)

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user turn's blocks: ``text``, ``image`` and ``document`` sources.

        A ``file`` source (a Files API id) counts only with the beta flag that enables it.
        """
        body = request.json() or {}
        users = [t for t in body.get("messages") or () if t.get("role") == "user"]
        content = users[-1].get("content") if users else []
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts = [_content_part(block) for block in blocks or ()]
        if "files-api" not in request.headers.get("anthropic-beta", ""):
            # The API reads a file id only with the Files API beta flag in anthropic-beta.
            parts = [
                (k, "refused: no files-api beta" if v.startswith("id:") else v) for k, v in parts
            ]
        return parts

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``system`` (a string or text blocks), then each turn's content blocks in order.

        Blocks the API refuses where they stand are read as ``other`` items (a 400 from the
        real API): a ``tool_result`` after other content of its turn (results lead the
        turn that answers a call), and text ending in whitespace at the end of a final
        assistant turn (a prefill).
        """
        body = request.json() or {}
        system = body.get("system")
        said = [_said("system", b) for b in ([system] if isinstance(system, str) else system or ())]
        turns = list(body.get("messages") or ())
        for number, turn in enumerate(turns, start=1):
            content = turn.get("content")
            blocks = [content] if isinstance(content, str) else list(content or ())
            role = str(turn.get("role"))
            items = [_said(role, block) for block in blocks]
            for place, item in enumerate(items):
                if item.kind == "result" and any(i.kind != "result" for i in items[:place]):
                    items[place] = Said(role, "other", "tool_result after other content")
            last = items[-1] if items else None
            final = number == len(turns) and role == "assistant"
            if (
                final
                and last is not None
                and last.kind == "text"
                and last.text != last.text.rstrip()
            ):
                items[-1] = Said(role, "other", "final assistant text ends in whitespace")
            said.extend(items)
        return said

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """``thinking`` (with its signature) and ``redacted_thinking`` blocks before the text."""

        def add_reasoning(body: Any) -> None:
            body["content"] = [*_thinking_blocks(thinking), *body["content"]]

        return edit_json(self.chat(request, text, usage), add_reasoning)

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Each reasoning block streamed first: opened empty, thinking and signature deltas."""
        frames: list[bytes] = []
        for index, block in enumerate(thinking):
            if block.redacted:
                start = {"type": "redacted_thinking", "data": block.text}
                deltas = []
            else:
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [
                    {"type": "thinking_delta", "thinking": block.text},
                    {"type": "signature_delta", "signature": block.signature or ""},
                ]
            opening = {"type": "content_block_start", "index": index, "content_block": start}
            frames.append(_event("content_block_start", opening))
            frames.extend(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                for delta in deltas
            )
            closing = {"type": "content_block_stop", "index": index}
            frames.append(_event("content_block_stop", closing))
        frames = [self._start(request.model_hint, usage), *frames]
        frames.extend(self._text_block(pieces, len(thinking)))  # after the reasoning blocks
        ending = self._ending("end_turn", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """One ``tool_use`` block per call, its input as ``input_json_delta`` fragments."""
        frames = [self._start(request.model_hint, usage)]
        for index, (call, parts) in enumerate(zip(calls, fragments, strict=True)):
            frames.extend(self._tool_block(call, parts, index))
        ending = self._ending("tool_use", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """A ``message`` with one ``tool_use`` block per call."""

        def call_all(body: Any) -> None:
            body["content"] = [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": json.loads(c.arguments)}
                for c in calls
            ]

        return edit_json(self.tool_chat(request, calls[0], usage), call_all)

    def cut_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A ``tool_use`` block the ``max_tokens`` limit cut (``stop_reason: max_tokens``).

        ``call``'s arguments may be cut JSON: the block's ``input`` is left empty instead.
        """
        whole = ToolCall(id=call.id, name=call.name, arguments="{}")

        def cut(body: Any) -> None:
            body["content"] = [{"type": "tool_use", "id": call.id, "name": call.name, "input": {}}]
            body["stop_reason"] = "max_tokens"

        return edit_json(self.tool_chat(request, whole, usage), cut)

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """Anthropic has no embeddings endpoint."""
        return []

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """Anthropic has no embeddings endpoint: answer as its API does for unknown paths."""
        return self.error(404, "Not Found")

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"type": "error", "error": {"type", "message"}}`` with a ``request-id``."""
        kind = _ERROR_TYPES.get(status, "api_error")
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_contract_error",
        }
        all_headers = {
            "content-type": "application/json",
            "request-id": "req_contract_error",
            **(headers or {}),
        }
        return Reply(status, all_headers, (json_bytes(body),))

    def stream_error(self, message: str) -> bytes:
        """``event: error`` with an ``overloaded_error``."""
        return _event(
            "error", {"type": "error", "error": {"type": "overloaded_error", "message": message}}
        )

    #: The statuses whose error type the API names in an ``event: error`` (its errors page:
    #: 402 is ``billing_error``, 504 ``timeout_error``, 529 ``overloaded_error``; 409 and
    #: 422 share 400's type).
    stream_error_statuses = (400, 401, 402, 403, 404, 413, 429, 500, 504, 529)

    def stream_error_for(self, status: int, message: str) -> bytes:
        """``event: error`` with the error type of HTTP ``status``."""
        kind = _ERROR_TYPES.get(status, "api_error")
        return _event("error", {"type": "error", "error": {"type": kind, "message": message}})

    def _json_tool_beside(self, request: CapturedRequest, call: ToolCall) -> str | None:
        """The JSON-mode tool the body offers beside the caller's ``call`` (None: none).

        A plugin that emulates JSON mode with a tool offers it next to the caller's tools
        and lets the model pick (``tool_choice: any``): the one tool not named ``call``.
        """
        body = request.json() or {}
        names = [t.get("name") for t in body.get("tools") or () if isinstance(t, dict)]
        others = [str(n) for n in names if n != call.name]
        return others[0] if len(others) == 1 else None

    def _callable(self, request: CapturedRequest, call: ToolCall) -> bool:
        """Whether the body lets the model call ``call``'s tool (offered, not ruled out)."""
        try:
            return call.name in self.tool_use(request).callable
        except ValueError:
            return False  # a tool choice the API refuses: the model calls nothing

    def json_call_chat(
        self,
        request: CapturedRequest,
        document: Any,
        call: ToolCall,
        usage: Usage,
        *,
        json_first: bool,
    ) -> Reply:
        """A JSON-mode answer that also calls one of the caller's tools (parallel tool use).

        The JSON comes as the input of the JSON-mode tool the body offers (as text when it
        offers none), before or after the ``tool_use`` block of ``call``; the stop reason
        is ``tool_use``. Where the body does not let the model call ``call``'s tool (it
        forces the JSON tool alone), the answer is the JSON alone.
        """
        forced = self._json_tool_beside(request, call)
        called = {"type": "tool_use", "id": call.id, "name": call.name}
        called["input"] = json.loads(call.arguments)
        answer: dict[str, Any] = {"type": "text", "text": json.dumps(document, ensure_ascii=False)}
        if forced is not None:
            answer = {"type": "tool_use", "id": "toolu_contract_json", "name": forced}
            answer["input"] = document

        def both(body: Any) -> None:
            body["content"] = [answer, called] if json_first else [called, answer]
            if not self._callable(request, call):
                # The body forces the JSON tool alone: the model cannot call the other.
                body["content"] = [answer]
                body["stop_reason"] = "end_turn" if forced is None else "tool_use"

        return edit_json(self.tool_chat(request, call, usage), both)

    def json_call_stream(
        self,
        request: CapturedRequest,
        pieces: Sequence[str],
        call: ToolCall,
        fragments: Sequence[str],
        usage: Usage,
        *,
        json_first: bool,
    ) -> StreamRendering:
        """The streamed :meth:`json_call_chat`: JSON in ``pieces``, the call in ``fragments``.

        Each block streams at its own index, in the order ``json_first`` says (the JSON
        alone where the body does not let the model call ``call``'s tool).
        """
        forced = self._json_tool_beside(request, call)
        json_call = ToolCall(id="toolu_contract_json", name=forced or "", arguments="")
        frames = [self._start(request.model_hint, usage)]
        order: tuple[bool, ...] = (True, False) if json_first else (False, True)
        if not self._callable(request, call):
            order = (True,)  # the body forces the JSON tool alone: no other call
        for index, is_json in enumerate(order):
            if not is_json:
                frames.extend(self._tool_block(call, fragments, index))
            elif forced is None:
                frames.extend(self._text_block(pieces, index))
            else:
                frames.extend(self._tool_block(json_call, pieces, index))
        ending = self._ending(
            "end_turn" if order == (True,) and forced is None else "tool_use", usage
        )
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def _tool_block(self, call: ToolCall, fragments: Sequence[str], index: int) -> list[bytes]:
        """One ``tool_use`` content block at ``index``, its input in ``fragments``."""
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        opening = {"type": "content_block_start", "index": index, "content_block": block}
        frames = [_event("content_block_start", opening)]
        for part in fragments:
            delta = {"type": "input_json_delta", "partial_json": part}
            payload = {"type": "content_block_delta", "index": index, "delta": delta}
            frames.append(_event("content_block_delta", payload))
        frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        return frames

    def unknown_stream_error(self, message: str) -> bytes:
        """``event: error`` with an error type the API's errors page does not list (yet)."""
        error = {"type": "contract_unlisted_error", "message": message}
        return _event("error", {"type": "error", "error": error})

    def cache_marks(self, request: CapturedRequest) -> list[str]:
        """The text of every block the body marks as a cache breakpoint, in body order.

        ``cache_control`` on a ``system`` block or on a block of a turn ends the prompt
        prefix the API caches there (at most four per request).
        """
        body = request.json() or {}
        system = body.get("system")
        blocks = list(system) if isinstance(system, list) else []
        for turn in body.get("messages") or ():
            content = turn.get("content") if isinstance(turn, dict) else None
            blocks.extend(content if isinstance(content, list) else ())
        return [
            str(b.get("text", b.get("type")))
            for b in blocks
            if isinstance(b, dict) and "cache_control" in b
        ]

    def _stopped_chat(
        self, request: CapturedRequest, text: str, usage: Usage, stop_reason: str
    ) -> Reply:
        """A ``message`` with one text block and ``stop_reason``."""

        def stop(body: Any) -> None:
            body["stop_reason"] = stop_reason

        return edit_json(self.chat(request, text, usage), stop)

    def refusal_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """The model declining to answer: its text, ``stop_reason: refusal``."""
        return self._stopped_chat(request, text, usage, "refusal")

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer ``max_tokens`` ended (``types.length_finish``), as recorded.

        The API keeps the text it wrote and says ``stop_reason: max_tokens``.
        """
        return self._stopped_chat(request, text, usage, "max_tokens")

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The streamed :meth:`length_chat`: ``message_delta`` says ``max_tokens``."""
        return self._text_stream(request, pieces, usage, "max_tokens")
