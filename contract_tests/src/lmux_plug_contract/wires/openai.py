"""OpenAI Chat Completions wire (and every OpenAI-compatible endpoint)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lmux_plug import ToolCall, Usage

from lmux_plug_contract.wires._base import (
    CapturedRequest,
    Reply,
    StreamRendering,
    WireFormat,
    json_bytes,
)

__all__ = ["OpenAIWire"]

_CREATED = 1_700_000_000
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _sse(payload: Any) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


class OpenAIWire(WireFormat):
    """``POST /chat/completions`` and ``/embeddings``; SSE with ``data: [DONE]``."""

    name = "openai"

    def _chunk(self, model: str, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": "chatcmpl-contract",
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
            }
        )

    def _ending(self, model: str, finish: str, usage: Usage) -> tuple[bytes, ...]:
        usage_chunk = _sse(
            {
                "id": "chatcmpl-contract",
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [],
                "usage": _usage(usage),
            }
        )
        return (self._chunk(model, {}, finish), usage_chunk, b"data: [DONE]\n\n")

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A ``chat.completion`` object."""
        body = {
            "id": "chatcmpl-contract",
            "object": "chat.completion",
            "created": _CREATED,
            "model": request.model_hint,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(usage),
        }
        return Reply(
            200,
            {"content-type": "application/json", "x-request-id": "req_contract"},
            (json_bytes(body),),
        )

    def tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A ``chat.completion`` whose message holds ``tool_calls`` (finish ``tool_calls``)."""
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
            "refusal": None,
        }
        body = {
            "id": "chatcmpl-contract",
            "object": "chat.completion",
            "created": _CREATED,
            "model": request.model_hint,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
            ],
            "usage": _usage(usage),
        }
        return Reply(200, {"content-type": "application/json"}, (json_bytes(body),))

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """Role chunk, one chunk per piece, the finish chunk, the usage chunk, ``[DONE]``."""
        model = request.model_hint
        frames = [self._chunk(model, {"role": "assistant", "content": ""})]
        frames.extend(self._chunk(model, {"content": piece}) for piece in pieces)
        ending = self._ending(model, "stop", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A tool call whose ``arguments`` arrive in several deltas."""
        model = request.model_hint
        start = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ],
        }
        frames = [self._chunk(model, start)]
        frames.extend(
            self._chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            for part in fragments
        )
        ending = self._ending(model, "tool_calls", usage)
        return StreamRendering("text/event-stream; charset=utf-8", (*frames, *ending), len(ending))

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``input`` is a string or a list of strings."""
        body = request.json() or {}
        inputs = body.get("input", [])
        return [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """A list of ``embedding`` objects with their ``index``."""
        body = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": list(v)}
                for i, v in enumerate(vectors)
            ],
            "model": request.model_hint,
            "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
        }
        return Reply(200, {"content-type": "application/json"}, (json_bytes(body),))

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """``{"error": {"message", "type", "param", "code"}}``."""
        kind, code = _ERROR_TYPES.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        all_headers = {
            "content-type": "application/json",
            "x-request-id": "req_contract_error",
            **(headers or {}),
        }
        return Reply(status, all_headers, (json_bytes(body),))

    def stream_error(self, message: str) -> bytes:
        """An error object in a ``data:`` frame (OpenRouter, Groq and OpenAI proxies send this)."""
        return _sse({"error": {"message": message, "type": "server_error", "code": 502}})

    def stream_error_for(self, status: int, message: str) -> bytes:
        """The error object of an HTTP ``status`` answer, in a ``data:`` frame."""
        kind, code = _ERROR_TYPES.get(status, ("server_error", None))
        return _sse({"error": {"message": message, "type": kind, "param": None, "code": code}})
