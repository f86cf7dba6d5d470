"""The dialects OpenAI-compatible servers speak, for a provider whose ``base_url`` is theirs.

A provider on the ``openai`` wire whose declared ``base_url`` is a known server's (OpenRouter,
Mistral, DeepSeek, Together, Groq, OpenAI itself) is served that server's own forms of the
values the contract checks, so a plugin that declares the server meets what the server
really sends, not only OpenAI's forms. The forms come from traffic recorded from the real
APIs (``../shared/wire``) and from the servers' documentation:

- **OpenAI** reports cached prompt tokens in ``usage.prompt_tokens_details.cached_tokens``
  (``cache_usage``: ``types.cached_usage`` asks for them), takes the reasoning effort as
  ``reasoning_effort`` only (``reasoning_refusal``: a ``reasoning`` object is refused) and
  the token cap of its reasoning models as ``max_completion_tokens`` only.
- **OpenRouter** reports the call's USD price in ``usage.cost``, the prompt's part in
  ``usage.cost_details.upstream_inference_prompt_cost`` (:meth:`priced_chat`,
  :meth:`priced_stream`: ``types.reported_cost``); its stream's usage chunk still holds a
  choice with an empty delta; reasoning text is ``reasoning``; an error relayed mid-stream
  is a chunk whose error object has only a numeric ``code`` (the status) and a message.
- **Mistral** streams tool calls whole, without an ``index`` (placed by id), puts the usage
  on the finish chunk, and sends reasoning as ``thinking`` content parts that hold a list
  of text parts.
- **DeepSeek** puts the usage on the finish chunk and reports cached prompt tokens twice:
  as ``prompt_cache_hit_tokens`` (beside ``prompt_cache_miss_tokens``) and in
  ``prompt_tokens_details``.
- **Together** reports cached prompt tokens as a top-level ``usage.cached_tokens``.
- **Groq** puts a stream's usage in ``x_groq.usage`` on the finish chunk, sends reasoning
  as ``reasoning`` and errors mid-stream as an SSE ``event: error`` whose object carries
  ``status_code``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from urllib.parse import urlsplit

import attrs
from lmux_plug import Cost
from lmux_plug import ProviderSpec
from lmux_plug import ToolCall
from lmux_plug import Usage
from lmux_plug.testing.wire_formats import json_bytes

from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Pieces
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import WireFormat
from lmux_plug_contract.wires._base import edit_json
from lmux_plug_contract.wires.openai import OpenAIWire

__all__ = [
    "DIALECTS",
    "DeepSeekWire",
    "GroqWire",
    "MistralWire",
    "OpenAIHostWire",
    "OpenRouterWire",
    "TogetherWire",
    "dialect_of",
]

_SSE = "text/event-stream; charset=utf-8"
#: OpenAI's reasoning models, which take ``max_completion_tokens`` only.
_OPENAI_REASONING = re.compile(r"^(?:o\d|gpt-5)")
#: The ``type`` of Groq's error objects by status (OpenAI's names, which Groq copies).
_GROQ_ERROR_TYPES = {400: "invalid_request_error", 429: "tokens"}


def _sse(payload: Any) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


class _DialectWire(OpenAIWire):
    """The OpenAI wire with the points where compatible servers differ made overridable."""

    #: The host of the server whose dialect this is (``base_url``'s).
    host: ClassVar[str] = ""
    #: ``types.cached_usage``: the dialects all report cached prompt tokens.
    cache_usage = ("read",)
    #: The body members the server reads the output-token cap from, first found first.
    token_cap_keys: ClassVar[tuple[str, ...]] = ("max_tokens",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Name each dialect after its host, so a skip says which server's forms it lacks."""
        super().__init_subclass__(**kwargs)
        cls.name = f"openai ({cls.host})"

    def token_cap(self, request: CapturedRequest) -> int | None:
        """``requests.token_cap``: the output-token cap as the server reads it (None: none)."""
        body = request.json() or {}
        for key in self.token_cap_keys_for(request.model_hint):
            value = body.get(key) if isinstance(body, dict) else None
            if type(value) is int:
                return value
        return None

    def token_cap_keys_for(self, model: str) -> tuple[str, ...]:
        """The members :meth:`token_cap` reads for ``model``."""
        return self.token_cap_keys

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """``"stream": true``, as every OpenAI-compatible server reads it.

        Overridden (with the same reading) so that the session, which treats a wire of a
        type it does not know as a custom one, holds a dialect to the built-in wire's rule.
        """
        return super().asks_for_stream(request)

    def usage_json(self, usage: Usage) -> dict[str, Any]:
        """The ``usage`` object the server sends for ``usage`` (OpenAI's, by default).

        Taken from the usage chunk the plain OpenAI wire renders, so there is one rendering.
        """
        usage_chunk = super()._ending("contract-model", "stop", usage)[1]
        usage_json: dict[str, Any] = json.loads(usage_chunk.removeprefix(b"data: "))["usage"]
        return usage_json

    def _completion(  # type: ignore[override]
        self, request: CapturedRequest, message: dict[str, Any], finish: str, usage: Usage
    ) -> bytes:
        body = {
            "id": "chatcmpl-contract",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.model_hint,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self.usage_json(usage),
        }
        return json_bytes(body)

    def _chunk_object(
        self, model: str, delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-contract",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        # OpenAI's own: the finish chunk, a usage-only chunk with no choices, [DONE].
        usage_only = {**self._chunk_object(model, {}), "choices": []}
        usage_only["usage"] = self.usage_json(usage)
        return (self._chunk(model, {}, finish), _sse(usage_only), b"data: [DONE]\n\n")

    def _ending_with_usage(
        self, model: str, finish: str, usage: Usage, key: str = "usage"
    ) -> tuple[bytes, ...]:
        """The finish chunk carrying the usage (under ``key``), then ``[DONE]``."""
        finish_chunk = self._chunk_object(model, {}, finish)
        finish_chunk[key] = self.usage_json(usage)
        return (_sse(finish_chunk), b"data: [DONE]\n\n")


class OpenAIHostWire(_DialectWire):
    """OpenAI itself: cached prompt tokens, the token cap of reasoning models, TPM limits."""

    host = "api.openai.com"
    token_cap_keys = ("max_completion_tokens", "max_tokens")

    def token_cap_keys_for(self, model: str) -> tuple[str, ...]:
        """Reasoning models (o1, o3, o4-mini, gpt-5) refuse ``max_tokens``: only the newer name."""
        if _OPENAI_REASONING.match(model):
            return ("max_completion_tokens",)
        return self.token_cap_keys

    def reasoning_refusal(self, request: CapturedRequest) -> str | None:
        """``reasoning.effort_levels``: Chat Completions takes ``reasoning_effort`` only.

        A ``reasoning`` object (OpenRouter's form) is a member the API does not know, which
        it refuses with a 400 (``Unrecognized request argument supplied: reasoning``).
        """
        body = request.json() or {}
        if isinstance(body, dict) and "reasoning" in body:
            return "Unrecognized request argument supplied: reasoning"
        return None

    def stream_error_for(self, status: int, message: str) -> bytes:
        """As the base wire, but a rate limit names the tokens-per-minute one (``tokens``).

        OpenAI names a rate limit by what ran out, ``requests`` or ``tokens``; the base wire
        renders the first, OpenAI's own host the second, so a plugin meets both.
        """
        if status != 429:
            return super().stream_error_for(status, message)
        error = {"message": message, "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
        return _sse({"error": error})


class OpenRouterWire(_DialectWire):
    """OpenRouter: reported cost, ``reasoning``, code-only errors mid-stream."""

    host = "openrouter.ai"
    reasoning_key = "reasoning"
    token_cap_keys = ("max_completion_tokens", "max_tokens")
    #: ``types.reported_cost``: the server reports what each call costs.
    reports_cost = True

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        # The usage chunk after the finish chunk still holds a choice with an empty delta.
        usage_chunk = self._chunk_object(model, {"role": "assistant", "content": ""})
        usage_chunk["usage"] = self.usage_json(usage)
        return (self._chunk(model, {}, finish), _sse(usage_chunk), b"data: [DONE]\n\n")

    @staticmethod
    def _with_cost(usage: dict[str, Any], cost: Cost) -> dict[str, Any]:
        # Numbers as JSON numbers, as OpenRouter sends them (float text, never a string).
        return {
            **usage,
            "cost": float(cost.total),
            "is_byok": False,
            "cost_details": {
                "upstream_inference_cost": None,
                "upstream_inference_prompt_cost": float(cost.input),
                "upstream_inference_completions_cost": float(cost.output),
            },
        }

    def priced_chat(self, request: CapturedRequest, text: str, usage: Usage, cost: Cost) -> Reply:
        """A ``chat.completion`` whose usage reports ``cost`` (total and prompt part)."""

        def add_cost(body: Any) -> None:
            body["usage"] = self._with_cost(body["usage"], cost)

        return edit_json(self.chat(request, text, usage), add_cost)

    def priced_stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage, cost: Cost
    ) -> StreamRendering:
        """A stream whose usage chunk reports ``cost``."""
        rendering = self.stream(request, pieces, usage)
        usage_chunk = self._chunk_object(request.model_hint, {"role": "assistant", "content": ""})
        usage_chunk["usage"] = self._with_cost(self.usage_json(usage), cost)
        frames = list(rendering.frames)
        frames[-2] = _sse(usage_chunk)
        return attrs.evolve(rendering, frames=tuple(frames))

    def _relayed_error(self, status: int, message: str) -> bytes:
        chunk = self._chunk_object("contract-model", {"role": "assistant", "content": ""})
        chunk["provider"] = "Contract"
        chunk["error"] = {"code": status, "message": message}
        return _sse(chunk)

    def stream_error(self, message: str) -> bytes:
        """An upstream failure relayed mid-stream: ``{"code": 502, "message": ...}``."""
        return self._relayed_error(502, message)

    def stream_error_for(self, status: int, message: str) -> bytes:
        """The status as the error object's numeric ``code``, and nothing else but the message."""
        return self._relayed_error(status, message)


class MistralWire(_DialectWire):
    """Mistral: index-less whole tool calls, usage on the finish chunk, thinking parts."""

    host = "api.mistral.ai"

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        return self._ending_with_usage(model, finish, usage)

    def tool_calls_stream(
        self, request: CapturedRequest, calls: Sequence[ToolCall], fragments: Pieces, usage: Usage
    ) -> StreamRendering:
        """Every call whole in one delta, each with its id and without an ``index``."""
        model = request.model_hint
        whole = [
            {"id": call.id, "function": {"name": call.name, "arguments": call.arguments}}
            for call in calls
        ]
        frames = (
            self._chunk(model, {"role": "assistant", "content": ""}),
            self._chunk(model, {"content": None, "tool_calls": whole}),
        )
        ending = self._ending(model, "tool_calls", usage)
        return StreamRendering(_SSE, (*frames, *ending), len(ending))

    def _thinking_parts(self, text: str) -> list[dict[str, Any]]:
        return [{"type": "thinking", "thinking": [{"type": "text", "text": text}]}]

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """``content`` as parts: a ``thinking`` part (of text parts), then the text part."""
        thought = "".join(b.text for b in thinking if not b.redacted)

        def as_parts(body: Any) -> None:
            body["choices"][0]["message"]["content"] = [
                *self._thinking_parts(thought),
                {"type": "text", "text": text},
            ]

        return edit_json(self.chat(request, text, usage), as_parts)

    def _reasoning_delta(self, text: str) -> dict[str, Any]:
        return {"content": self._thinking_parts(text)}


class DeepSeekWire(_DialectWire):
    """DeepSeek: the usage on the finish chunk, cache hits under their own name too."""

    host = "api.deepseek.com"

    def usage_json(self, usage: Usage) -> dict[str, Any]:
        """OpenAI's usage plus ``prompt_cache_hit_tokens`` and ``prompt_cache_miss_tokens``."""
        return {
            **super().usage_json(usage),
            "prompt_cache_hit_tokens": usage.cache_read_tokens,
            "prompt_cache_miss_tokens": usage.input_tokens - usage.cache_read_tokens,
        }

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        return self._ending_with_usage(model, finish, usage)


class TogetherWire(_DialectWire):
    """Together: cached prompt tokens as a top-level ``usage.cached_tokens``."""

    host = "api.together.xyz"

    def usage_json(self, usage: Usage) -> dict[str, Any]:
        """The counts and a top-level ``cached_tokens``; no ``*_details`` objects."""
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cache_read_tokens,
        }


class GroqWire(_DialectWire):
    """Groq: the stream's usage in ``x_groq``, ``reasoning``, ``event: error`` mid-stream."""

    host = "api.groq.com"
    reasoning_key = "reasoning"
    token_cap_keys = ("max_completion_tokens", "max_tokens")

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        finish_chunk = self._chunk_object(model, {}, finish)
        finish_chunk["x_groq"] = {"id": "req_contract", "usage": self.usage_json(usage)}
        return (_sse(finish_chunk), b"data: [DONE]\n\n")

    def stream_error_for(self, status: int, message: str) -> bytes:
        """An SSE ``event: error`` whose error object carries ``status_code``."""
        kind = _GROQ_ERROR_TYPES.get(status, "server_error")
        error = json_bytes({"error": {"message": message, "type": kind, "status_code": status}})
        return b"event: error\ndata: " + error + b"\n\n"


#: Host of a server -> the dialect wire it speaks.
DIALECTS: dict[str, type[_DialectWire]] = {
    wire.host: wire
    for wire in (OpenAIHostWire, OpenRouterWire, MistralWire, DeepSeekWire, TogetherWire, GroqWire)
}


def dialect_of(wire: WireFormat | None, spec: ProviderSpec) -> WireFormat | None:
    """``wire``, or the dialect of the server ``spec.base_url`` names when it speaks one.

    Only the suite's own OpenAI wire is swapped: a plugin's custom wire renders as it says.
    """
    if type(wire) is not OpenAIWire:
        return wire
    dialect = DIALECTS.get(urlsplit(spec.base_url).hostname or "")
    return dialect() if dialect is not None else wire
