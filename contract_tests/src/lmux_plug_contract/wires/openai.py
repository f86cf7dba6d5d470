"""OpenAI Chat Completions wire (and every OpenAI-compatible endpoint).

The format lives in :mod:`lmux_plug.testing.wire_formats`, because the fake OpenAI server
renders with it too: one rendering of the wire for both. The suite's subclass adds what
only the contract reads: the conversation a request body says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import attrs
from lmux_plug import ToolCall
from lmux_plug import Usage
from lmux_plug.testing.wire_formats import OpenAIWire as _RenderingWire

from lmux_plug_contract.wires._base import EVERY_TOOL_CHOICE
from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import ToolUse
from lmux_plug_contract.wires._base import edit_json
from lmux_plug_contract.wires._base import halves
from lmux_plug_contract.wires._said import Said

__all__ = ["OpenAIWire", "image_details_of", "said_of_messages"]


def image_details_of(request: CapturedRequest) -> list[str | None]:
    """The ``detail`` of each ``image_url`` part of the last user message (None: not sent).

    Chat Completions (and Cohere v2, which copies its parts) reads ``image_url.detail``
    (``low``, ``high``, ``auto``); a part without it gets the API's default. A ``null``
    detail is not a detail: the API refuses it.
    """
    body = request.json() or {}
    messages = body.get("messages") if isinstance(body, dict) else None
    users = [m for m in messages or () if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    details: list[str | None] = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, dict) else {}
            if "detail" not in image:
                details.append(None)
            else:  # sent: a string, or what the API refuses, shown as its repr
                detail = image["detail"]
                details.append(detail if isinstance(detail, str) else repr(detail))
    return details


def _texts(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        if content:
            yield content
        return
    for part in content if isinstance(content, list) else ():
        if isinstance(part, Mapping) and part.get("type") == "text":
            yield str(part.get("text"))


def _call(role: str, call: Any) -> Said:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        return Said(role, "other", repr(call)[:80])
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except (TypeError, ValueError):
        arguments = repr(function.get("arguments"))[:80]
    return Said.call(role, function.get("name"), arguments, ref=call.get("id"))


def said_of_messages(messages: Any) -> list[Said]:
    """Chat Completions ``messages`` (Cohere v2 shares the shape) as the API reads them.

    A ``tool`` turn is a result (role ``user``, ``ref`` its ``tool_call_id``); a
    ``developer`` turn is a system one; Cohere's ``tool_plan`` is reasoning sent back.
    """
    said: list[Said] = []
    for turn in messages if isinstance(messages, list) else ():
        if not isinstance(turn, Mapping):
            said.append(Said("?", "other", repr(turn)[:80]))
            continue
        role = "system" if turn.get("role") == "developer" else str(turn.get("role"))
        if role == "tool":
            text = "".join(_texts(turn.get("content")))
            said.append(Said("user", "result", text, ref=turn.get("tool_call_id")))
            continue
        plan = turn.get("tool_plan")
        if isinstance(plan, str) and plan:
            said.append(Said(role, "thinking", plan))
        said.extend(Said(role, "text", text) for text in _texts(turn.get("content")))
        said.extend(_call(role, call) for call in turn.get("tool_calls") or ())
    return said


def _thought(thinking: Thoughts) -> str:
    return "".join(b.text for b in thinking if not b.redacted)


class OpenAIWire(_RenderingWire):
    """The rendering wire, plus the conversation reader and reasoning answers.

    Chat Completions from OpenAI itself carries no reasoning text; compatible servers
    (DeepSeek, vLLM) send it as ``reasoning_content`` beside ``content``, which is what
    ``reasoning.thinking`` renders for a model that declares ``reasoning``.
    """

    #: The statuses an error object inside a stream stands for, where the API says which:
    #: a rate limit by its ``code``, a relayed upstream failure by the status as a number
    #: in ``code`` (OpenRouter). Other refusals come before the stream, as HTTP statuses.
    stream_error_statuses = (429, 500, 502, 503, 504, 529)
    #: Chat Completions takes every tool choice (``auto``, ``none``, ``required``, a function).
    tool_choices = EVERY_TOOL_CHOICE
    #: Where a message or delta carries reasoning text: DeepSeek's (and vLLM's) name; the
    #: dialects of OpenRouter and Groq say ``reasoning`` (``wires/openai_dialects.py``).
    reasoning_key = "reasoning_content"

    def _reasoning_delta(self, text: str) -> dict[str, Any]:
        """The delta of a streamed piece of reasoning (``content`` null beside it)."""
        return {"content": None, self.reasoning_key: text}

    def image_details(self, request: CapturedRequest) -> list[str | None]:
        """The ``detail`` of each image part of the last user message (None: not sent)."""
        return image_details_of(request)

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """A ``chat.completion`` whose message has the reasoning at :attr:`reasoning_key`."""

        def add_reasoning(body: Any) -> None:
            body["choices"][0]["message"][self.reasoning_key] = _thought(thinking)

        return edit_json(self.chat(request, text, usage), add_reasoning)

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Reasoning deltas (:meth:`_reasoning_delta`) after the role chunk, then the text."""
        rendering = self.stream(request, pieces, usage)
        thought = _thought(thinking)
        reasoning = [
            self._chunk(request.model_hint, self._reasoning_delta(half)) for half in halves(thought)
        ]
        first, *rest = rendering.frames
        return attrs.evolve(rendering, frames=(first, *reasoning, *rest))

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``messages`` in order: text parts, tool calls (by id) and ``tool`` results."""
        return said_of_messages((request.json() or {}).get("messages"))

    def strict_tools(self, request: CapturedRequest) -> frozenset[str]:
        """The tools the API holds to their schema: ``tools[].function.strict`` is ``true``."""
        return frozenset(
            str(t["function"].get("name"))
            for t in (request.json() or {}).get("tools") or ()
            if isinstance(t, Mapping)
            and isinstance(t.get("function"), Mapping)
            and t["function"].get("strict") is True
        )

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """As the rendering wire reads it; a ``tool_choice`` without ``tools`` is refused.

        The API answers 400 ("Invalid value for 'tool_choice': 'tool_choice' is only allowed
        when 'tools' are specified."), whatever the choice, ``auto`` and ``none`` too.
        """
        body = request.json() or {}
        if isinstance(body, Mapping) and "tool_choice" in body and not body.get("tools"):
            msg = "'tool_choice' is only allowed when 'tools' are specified"
            raise ValueError(msg)
        return super().tool_use(request)

    @staticmethod
    def _finishing(reply: Reply, finish: str) -> Reply:
        """A ``chat.completion`` ``reply`` whose choice ends with ``finish`` instead."""

        def end(body: Any) -> None:
            body["choices"][0]["finish_reason"] = finish

        return edit_json(reply, end)

    def _ending_with(
        self, request: CapturedRequest, rendering: StreamRendering, finish: str, usage: Usage
    ) -> StreamRendering:
        """``rendering`` with its ending (finish chunk, usage, ``[DONE]``) saying ``finish``."""
        ending = self._ending(request.model_hint, finish, usage)
        frames = (*rendering.frames[: -rendering.terminal], *ending)
        return attrs.evolve(rendering, frames=frames, terminal=len(ending))

    def cut_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A tool-call answer cut off at the token cap: ``finish_reason: length``.

        The API stops mid-arguments and says so with ``length``, not ``tool_calls``.
        """
        return self._finishing(self.tool_calls_chat(request, (call,), usage), "length")

    def cut_tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed tool call cut off at the token cap: the finish chunk says ``length``."""
        rendering = self.tool_calls_stream(request, (call,), (fragments,), usage)
        return self._ending_with(request, rendering, "length", usage)

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer the output limit ended (``types.length_finish``): ``length``."""
        return self._finishing(self.chat(request, text, usage), "length")

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer the output limit ended: the finish chunk says ``length``."""
        return self._ending_with(request, self.stream(request, pieces, usage), "length", usage)
