"""Cohere v2 wire: ``POST /v2/chat`` (JSON, or SSE with ``stream: true``) and ``/v2/embed``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from lmux_plug import FinishReason
from lmux_plug import ToolCall
from lmux_plug import Usage

from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Pieces
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import ToolUse
from lmux_plug_contract.wires._base import edit_json
from lmux_plug_contract.wires._base import halves
from lmux_plug_contract.wires._base import inline_data
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires._base import last_user
from lmux_plug_contract.wires._base import openai_tool_call
from lmux_plug_contract.wires._base import unknown_tool_choice
from lmux_plug_contract.wires._common import PlainAsThinking
from lmux_plug_contract.wires._common import enabled_budget
from lmux_plug_contract.wires._said import Said
from lmux_plug_contract.wires.openai import image_details_of
from lmux_plug_contract.wires.openai import said_of_messages

__all__ = ["TOOL_PLAN", "CohereWire"]

_JSON = {"content-type": "application/json"}
_DONE = b"data: [DONE]\n\n"
#: The model's plan before its tool calls (whole, and streamed in ``tool-plan-delta`` events).
TOOL_PLAN = "I will call the tools ✓."


def _event(payload: Mapping[str, Any]) -> bytes:
    """``event: <type>`` then ``data: <json>``, as Cohere frames its SSE events."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + json_bytes(payload) + b"\n\n"


def _usage(usage: Usage) -> dict[str, Any]:
    """``tokens`` (every token the model saw) and ``billed_units`` (fewer, as the API bills).

    As recorded from the API (tokens 69 in, 89 out; billed 7 and 88): the system preamble
    Cohere adds is counted but not billed, and one output token is not billed. ``Usage``
    counts every prompt token, so a plugin must read ``tokens``, not ``billed_units``.
    """
    counts = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    billed = {
        "input_tokens": max(usage.input_tokens - 5, 0),
        "output_tokens": max(usage.output_tokens - 1, 0),
    }
    return {"billed_units": billed, "tokens": counts}


def _answer(message: Mapping[str, Any], finish: str, usage: Usage) -> Reply:
    """A whole (not streamed) answer: ``message`` ended by ``finish``, with its usage."""
    body = {"id": "contract-cohere", "message": message, "finish_reason": finish}
    return Reply(200, _JSON, (json_bytes({**body, "usage": _usage(usage)}),))


def _start() -> bytes:
    message = {
        "role": "assistant",
        "content": [],
        "tool_plan": "",
        "tool_calls": [],
        "citations": [],
    }
    return _event({"id": "contract-cohere", "type": "message-start", "delta": {"message": message}})


def _end(reason: str, usage: Usage) -> bytes:
    return _event(
        {"type": "message-end", "delta": {"finish_reason": reason, "usage": _usage(usage)}}
    )


def _content_block(index: int, kind: str, pieces: Sequence[str]) -> list[bytes]:
    """``content-start`` of a ``kind`` block at ``index``, a ``content-delta`` per piece, end."""
    opening = {"message": {"content": {"type": kind, kind: ""}}}
    frames = [_event({"type": "content-start", "index": index, "delta": opening})]
    frames.extend(
        _event(
            {
                "type": "content-delta",
                "index": index,
                "delta": {"message": {"content": {kind: piece}}},
            }
        )
        for piece in pieces
    )
    frames.append(_event({"type": "content-end", "index": index}))
    return frames


class CohereWire(PlainAsThinking):
    """v2 chat with ``content-delta`` / ``tool-call-delta`` SSE events; embeddings by type."""

    name = "cohere"
    tool_finish = FinishReason.TOOL_CALLS
    # Unsigned reasoning; it goes back only as the tool_plan of a turn with tool calls.
    signs_thinking = False
    returns_thinking = False

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``messages`` as in Chat Completions (``tool_plan`` is reasoning sent back)."""
        return said_of_messages((request.json() or {}).get("messages"))

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """A ``message`` whose ``thinking`` parts come before its text part."""
        parts = [{"type": "thinking", "thinking": b.text} for b in thinking if not b.redacted]
        content = [*parts, {"type": "text", "text": text}]
        return _answer({"role": "assistant", "content": content}, "COMPLETE", usage)

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A ``thinking`` content block per reasoning block (two deltas each), then the text."""
        frames = [_start()]
        thoughts = [b.text for b in thinking if not b.redacted]
        for index, thought in enumerate(thoughts):
            frames.extend(_content_block(index, "thinking", halves(thought)))
        frames.extend(_content_block(len(thoughts), "text", pieces))
        return StreamRendering(
            "text/event-stream", (*frames, _end("COMPLETE", usage), _DONE), terminal=2
        )

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """A ``message`` with ``tool_calls`` (JSON-text arguments), ``finish_reason: TOOL_CALL``."""
        tool_calls = [openai_tool_call(call) for call in calls]
        message = {"role": "assistant", "tool_plan": TOOL_PLAN, "tool_calls": tool_calls}
        return _answer(message, "TOOL_CALL", usage)

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """The tool plan in ``tool-plan-delta`` events, then the calls' events.

        As the API streams it, the plan (the model's reasoning before its calls, the
        ``tool_plan`` of a whole answer) comes first, in pieces. Per call:
        ``tool-call-start``, ``tool-call-delta`` events, ``tool-call-end``; each carries the
        call's ``index`` (0, 1 ...) and the start its id and name.
        """
        frames = [_start()]
        frames.extend(
            _event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
            for piece in halves(TOOL_PLAN)
        )
        for index, (call, parts) in enumerate(zip(calls, fragments, strict=True)):
            opening = openai_tool_call(call, "")
            frames.append(
                _event(
                    {
                        "type": "tool-call-start",
                        "index": index,
                        "delta": {"message": {"tool_calls": opening}},
                    }
                )
            )
            frames.extend(
                _event(
                    {
                        "type": "tool-call-delta",
                        "index": index,
                        "delta": {"message": {"tool_calls": {"function": {"arguments": part}}}},
                    }
                )
                for part in parts
            )
            frames.append(_event({"type": "tool-call-end", "index": index}))
        return StreamRendering(
            "text/event-stream", (*frames, _end("TOOL_CALL", usage), _DONE), terminal=2
        )

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``tools[].function.name``; ``tool_choice`` REQUIRED or NONE (absent: the model decides).

        Cohere cannot name a function: offering only that one and requiring a call does.
        """
        body = request.json() or {}
        names = frozenset(
            str(t["function"].get("name"))
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        )
        choice = body.get("tool_choice")
        if choice is None or choice == "NONE" or (choice == "REQUIRED" and names):
            return ToolUse(
                forced=choice == "REQUIRED", callable=frozenset() if choice == "NONE" else names
            )
        raise unknown_tool_choice(choice)

    def reasoning_enabled(self, request: CapturedRequest) -> bool:
        """Whether the body leaves reasoning on: ``thinking.type`` enabled, or no ``thinking``.

        Cohere's reasoning models think by default; only ``type: disabled`` turns it off.
        """
        thinking = (request.json() or {}).get("thinking")
        return thinking is None or (
            isinstance(thinking, dict) and thinking.get("type") == "enabled"
        )

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """Why the API refuses the body's ``thinking``, or None when it takes it.

        ``type`` is ``enabled`` or ``disabled``; a ``token_budget``, where given, is a
        positive integer (the cap on thinking tokens).
        """
        thinking = (request.json() or {}).get("thinking")
        if thinking is None:
            return None
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            return f"thinking must be {{type: enabled | disabled}}, got {thinking!r}"
        budget = thinking.get("token_budget")
        if budget is not None and (type(budget) is not int or budget < 1):
            return f"thinking.token_budget must be a positive integer, got {budget!r}"
        return None

    def thinking_budget(self, request: CapturedRequest) -> int | None:
        """``thinking.token_budget`` of an enabled ``thinking`` (``reasoning.budget_order``)."""
        return enabled_budget((request.json() or {}).get("thinking"), "token_budget")

    def budget_range(self, model: str) -> tuple[int, int | None]:
        """Any positive budget; no documented most (the model's output limit bounds it)."""
        return (1, None)

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user message's ``content``: a string, or ``text`` and ``image_url`` parts."""
        content = last_user(request).get("content")
        if isinstance(content, str):
            return [("text", content)]
        return [
            ("text", str(part.get("text")))
            if part.get("type") == "text"
            else ("image", inline_data(str((part.get("image_url") or {}).get("url"))))
            if part.get("type") == "image_url"
            else (str(part.get("type")), json.dumps(part)[:200])
            for part in content or ()
        ]

    def image_details(self, request: CapturedRequest) -> list[str | None]:
        """The ``detail`` of each ``image_url`` part of the last user message (None: not sent)."""
        return image_details_of(request)

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``texts``."""
        body = request.json() or {}
        return [str(text) for text in body.get("texts") or []]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """``embeddings.float`` with ``meta.billed_units.input_tokens``."""
        body = {
            "id": "contract-cohere-embed",
            "embeddings": {"float": [list(v) for v in vectors]},
            "texts": self.embed_inputs(request),
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"input_tokens": usage.input_tokens},
            },
            "response_type": "embeddings_by_type",
        }
        return Reply(200, _JSON, (json_bytes(body),))

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"id", "message"}``: Cohere's error bodies have no ``error`` object."""
        body = {"id": "contract-cohere-error", "message": message}
        return Reply(status, {**_JSON, **(headers or {})}, (json_bytes(body),))

    def stream_error(self, message: str) -> bytes:
        """``message-end`` with ``finish_reason: ERROR`` and the error text."""
        return _event(
            {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}}
        )

    def strict_tools(self, request: CapturedRequest) -> frozenset[str]:
        """Every tool offered when the body sets ``strict_tools: true`` (Cohere's one switch)."""
        body = request.json() or {}
        if body.get("strict_tools") is not True:
            return frozenset()
        return frozenset(
            str(t["function"].get("name"))
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        )

    def cut_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A tool-call answer cut off at the token cap: ``finish_reason: MAX_TOKENS``."""
        return edit_json(self.tool_calls_chat(request, (call,), usage), _cut)

    def cut_tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed tool call cut off at the token cap: ``message-end`` says ``MAX_TOKENS``."""
        return _cut_stream(self.tool_calls_stream(request, (call,), (fragments,), usage), usage)

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer the token cap ended (``types.length_finish``): ``MAX_TOKENS``."""
        return edit_json(self.chat(request, text, usage), _cut)

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer whose ``message-end`` says ``MAX_TOKENS``."""
        return _cut_stream(self.stream(request, pieces, usage), usage)


def _cut(body: Any) -> None:
    """An answer body's finish as the token cap ends it."""
    body["finish_reason"] = "MAX_TOKENS"


def _cut_stream(rendering: StreamRendering, usage: Usage) -> StreamRendering:
    """``rendering`` with its ending replaced by a ``message-end`` saying ``MAX_TOKENS``."""
    frames = (*rendering.frames[: -rendering.terminal], _end("MAX_TOKENS", usage), _DONE)
    return StreamRendering(rendering.content_type, frames, terminal=2)
