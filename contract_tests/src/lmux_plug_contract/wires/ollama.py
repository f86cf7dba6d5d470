"""Ollama native wire: ``/api/chat`` (NDJSON streams) and ``/api/embed``."""

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
from lmux_plug_contract.wires._base import halves
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires._base import last_user
from lmux_plug_contract.wires._base import unknown_tool_choice
from lmux_plug_contract.wires._common import PlainAsThinking
from lmux_plug_contract.wires._said import Said

__all__ = ["OllamaWire"]

_CREATED_AT = "2026-01-01T00:00:00.000000Z"


def _calls_message(calls: Sequence[ToolCall]) -> dict[str, Any]:
    """An assistant message holding whole ``calls`` (Ollama sends no call ids)."""
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": call.name, "arguments": json.loads(call.arguments)}}
            for call in calls
        ],
    }


def _whole(line: bytes) -> Reply:
    """A non-streamed answer: one JSON object (the line without its newline)."""
    return Reply(200, {"content-type": "application/json; charset=utf-8"}, (line.rstrip(b"\n"),))


#: The thinking levels gpt-oss takes in ``think`` (other models take a boolean).
_THINK_LEVELS = ("low", "medium", "high")


class OllamaWire(PlainAsThinking):
    """Ollama's own API; errors are ``{"error": "text"}``."""

    name = "ollama"
    tool_finish = FinishReason.TOOL_CALLS
    signs_thinking = False  # reasoning is a plain ``thinking`` string, sent back as one

    def conversation(self, request: CapturedRequest) -> list[Said]:
        """``messages`` in order; tool calls and results are matched by function name."""
        said: list[Said] = []
        for turn in (request.json() or {}).get("messages") or ():
            role = str(turn.get("role"))
            if role == "tool":
                ref = turn.get("tool_name")
                said.append(Said("user", "result", str(turn.get("content")), ref=ref))
                continue
            if turn.get("thinking"):
                said.append(Said(role, "thinking", str(turn["thinking"])))
            if turn.get("content"):
                said.append(Said(role, "text", str(turn["content"])))
            for call in turn.get("tool_calls") or ():
                function = call.get("function") or {}
                name = function.get("name")
                said.append(Said.call(role, name, function.get("arguments"), ref=name))
        return said

    def _line(
        self,
        request: CapturedRequest,
        message: Mapping[str, Any],
        done: bool,
        usage: Usage | None,
        reason: str = "stop",
    ) -> bytes:
        body: dict[str, Any] = {
            "model": request.model_hint,
            "created_at": _CREATED_AT,
            "message": dict(message),
            "done": done,
        }
        if done:
            body["done_reason"] = reason
            body["total_duration"] = 1000
            if usage is not None:
                body["prompt_eval_count"] = usage.input_tokens
                body["eval_count"] = usage.output_tokens
        return json_bytes(body) + b"\n"

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """Ollama streams unless the body says ``"stream": false`` (chat and generate)."""
        body = request.json()
        chat = request.path.endswith(("/api/chat", "/api/generate"))
        return chat and isinstance(body, dict) and body.get("stream", True) is not False

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """One ``done`` object; its message carries the reasoning in ``thinking`` (if any)."""
        message = {"role": "assistant", "content": text}
        thought = "".join(b.text for b in thinking if not b.redacted)
        if thought:
            message["thinking"] = thought
        return _whole(self._line(request, message, done=True, usage=usage))

    def length_chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A text answer ``num_predict`` ended (``types.length_finish``): ``length``."""
        message = {"role": "assistant", "content": text}
        return _whole(self._line(request, message, done=True, usage=usage, reason="length"))

    def length_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer whose ``done`` line says ``done_reason: length``."""
        rendering = self.stream(request, pieces, usage)
        empty = {"role": "assistant", "content": ""}
        last = self._line(request, empty, done=True, usage=usage, reason="length")
        return StreamRendering(rendering.content_type, (*rendering.frames[:-1], last), 1)

    def tool_calls_chat(
        self, request: CapturedRequest, calls: Sequence[ToolCall], usage: Usage
    ) -> Reply:
        """One ``done`` object whose message holds whole tool calls."""
        return _whole(self._line(request, _calls_message(calls), done=True, usage=usage))

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Lines of ``thinking`` (empty ``content``) first, then one line per text piece."""
        thought = "".join(b.text for b in thinking if not b.redacted)
        messages = [
            {"role": "assistant", "content": "", "thinking": h} for h in halves(thought) if h
        ]
        messages += [{"role": "assistant", "content": p} for p in pieces]
        frames = [self._line(request, m, done=False, usage=None) for m in messages]
        frames.append(
            self._line(request, {"role": "assistant", "content": ""}, done=True, usage=usage)
        )
        return StreamRendering("application/x-ndjson", tuple(frames), 1)

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """Ollama sends whole tool calls with object arguments, all of them in one line."""
        frames = (
            self._line(request, _calls_message(calls), done=False, usage=None),
            self._line(request, {"role": "assistant", "content": ""}, done=True, usage=usage),
        )
        return StreamRendering("application/x-ndjson", frames, 1)

    def tool_use(self, request: CapturedRequest) -> ToolUse:
        """``tools[].function.name``: no tool choice in Ollama, any tool offered may be called."""
        body = request.json() or {}
        if "tool_choice" in body:
            raise unknown_tool_choice(body["tool_choice"])
        return ToolUse(
            forced=False,
            callable=frozenset(
                str(t["function"].get("name"))
                for t in body.get("tools") or ()
                if isinstance(t, dict) and isinstance(t.get("function"), dict)
            ),
        )

    def content_parts(self, request: CapturedRequest) -> list[tuple[str, str]]:
        """The last user message: its ``content`` text, then its base64 ``images``."""
        user = last_user(request)
        parts = [("text", str(user.get("content")))]
        return parts + [("image", str(image)) for image in user.get("images") or ()]

    def reasoning_enabled(self, request: CapturedRequest) -> bool:
        """Whether ``think`` asks for thinking: ``true``, or a level (gpt-oss)."""
        think = (request.json() or {}).get("think")
        return think is True or think in _THINK_LEVELS

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """Why Ollama refuses the body's ``think``, or None (a boolean, or a gpt-oss level)."""
        body = request.json() or {}
        think = body.get("think")
        if "think" not in body or type(think) is bool or think in _THINK_LEVELS:
            return None
        return f"think must be true, false or one of {', '.join(_THINK_LEVELS)}, got {think!r}"

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``input`` (``/api/embed``) or ``prompt`` (legacy ``/api/embeddings``)."""
        body = request.json() or {}
        if "prompt" in body:
            return [str(body["prompt"])]
        inputs = body.get("input", [])
        return [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """``{"embeddings": [...], "prompt_eval_count"}`` or legacy ``{"embedding": [...]}``."""
        if request.path.endswith("/api/embeddings"):
            body: dict[str, Any] = {"embedding": list(vectors[0])}
        else:
            body = {
                "model": request.model_hint,
                "embeddings": [list(v) for v in vectors],
                "total_duration": 1000,
                "prompt_eval_count": usage.input_tokens,
            }
        return Reply(200, {"content-type": "application/json; charset=utf-8"}, (json_bytes(body),))

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"error": "message"}``."""
        all_headers = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        return Reply(status, all_headers, (json_bytes({"error": message}),))

    def stream_error(self, message: str) -> bytes:
        """An ``error`` line inside the NDJSON stream."""
        return json_bytes({"error": message}) + b"\n"
