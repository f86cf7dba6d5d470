"""OpenAI Chat Completions / Embeddings wire dicts built from the core types.

One place turns :class:`~lmux_plug.ChatResponse`, :class:`~lmux_plug.ChatChunk` and
:class:`~lmux_plug.EmbeddingResponse` into the dicts OpenAI's API returns. The drop-in
client wraps these dicts in attribute objects; the gateway serialises them as JSON / SSE.
Also here: model-name normalisation and the translation of OpenAI request fields into the
keyword arguments of ``Registry.achat`` (shared, so client and gateway accept the same).
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug.convert import tool_calls_to_openai
from lmux_plug.errors import InvalidRequestError

if TYPE_CHECKING:
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug._types import ToolCallDelta
    from lmux_plug._types import Usage

__all__ = [
    "CHAT_FIELDS",
    "ChunkWriter",
    "chat_params",
    "chunk_dict",
    "completion_dict",
    "embedding_dict",
    "finish_reason",
    "new_completion_id",
    "normalize_model",
    "usage_chunk_dict",
    "usage_dict",
]

# OpenAI request fields that map onto typed ``Registry.achat`` keywords.
CHAT_FIELDS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "user",
    }
)
# Fields the client or gateway consumes itself and never forwards as body fields. ``api_key``
# and ``base_url`` are here so a gateway client can never redirect a provider key.
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_completion_tokens",
        "api_key",
        "base_url",
        "extra",
        "extra_body",
        "extra_headers",
        "timeout",
    }
)

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def new_completion_id(prefix: str = "chatcmpl-") -> str:
    """A fresh OpenAI-style id (``chatcmpl-<hex>``)."""
    return prefix + uuid.uuid4().hex


def normalize_model(model: object, default_provider: str = "openai") -> str:
    """``"gpt-4o"`` -> ``"openai/gpt-4o"``; ``"prefix/model"`` and logical names unchanged.

    Logical names (registry aliases, router names) are recognised by the caller before this
    is applied; this only adds the default prefix to a bare name.
    """
    if not isinstance(model, str) or not model.strip():
        msg = f"model must be a non-empty string, got {model!r}"
        raise InvalidRequestError(msg)
    return model if "/" in model else f"{default_provider}/{model}"


def chat_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """Translate OpenAI request fields into ``Registry.achat`` keywords.

    Typed fields become keywords; ``max_completion_tokens`` becomes ``max_tokens``; every
    other unknown field goes to ``extra_body`` (a provider body field), never to a keyword,
    so a request cannot set ``api_key``, ``base_url`` or headers. Values are not checked
    here: both callers (the gateway's ``check_chat``, the drop-in client's
    ``check_chat_fields``) have checked them with :mod:`lmux_plug.params` before.
    """
    params: dict[str, Any] = {k: body[k] for k in CHAT_FIELDS if body.get(k) is not None}
    if body.get("max_completion_tokens") is not None and "max_tokens" not in params:
        params["max_tokens"] = body["max_completion_tokens"]
    extra = {
        k: v
        for k, v in body.items()
        if k not in CHAT_FIELDS and k not in _CONSUMED and v is not None
    }
    if extra:
        params["extra_body"] = extra
    return params


def finish_reason(value: object) -> str | None:
    """A core :class:`~lmux_plug.FinishReason` as OpenAI's string (``other`` -> ``stop``)."""
    if value is None:
        return None
    text = str(getattr(value, "value", value))
    return _FINISH.get(text, "stop")


def usage_dict(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object, with cached and reasoning token details."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def completion_dict(
    response: ChatResponse,
    *,
    model: str,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` object for ``response``; ``model`` is the name the caller used."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.content,
        "refusal": response.refusal,
    }
    if response.tool_calls:
        message["tool_calls"] = tool_calls_to_openai(response.tool_calls)
    return {
        "id": completion_id or _upstream_id(response) or new_completion_id(),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.finish_reason) or "stop",
            }
        ],
        "usage": usage_dict(response.usage),
    }


def _upstream_id(response: ChatResponse) -> str | None:
    # An OpenAI-wire provider's own completion id is kept (useful for tracing); the
    # request id (``req_...``) is not a completion id, so it is not used here.
    raw = response.raw
    value = raw.get("id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) and value else None


def _tool_delta(delta: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index}
    function: dict[str, Any] = {"arguments": delta.arguments}
    if delta.id is not None:
        out["id"] = delta.id
        out["type"] = "function"
    if delta.name is not None:
        function["name"] = delta.name
    out["function"] = function
    return out


def chunk_dict(
    chunk: ChatChunk, *, model: str, completion_id: str, created: int, first: bool
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` for ``chunk``; the first one carries the role."""
    delta: dict[str, Any] = {}
    if first:
        delta["role"] = "assistant"
    if chunk.delta or first:
        delta["content"] = chunk.delta
    if chunk.tool_call_deltas:
        delta["tool_calls"] = [_tool_delta(d) for d in chunk.tool_call_deltas]
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason(chunk.finish_reason),
            }
        ],
    }


def usage_chunk_dict(
    usage: Usage, *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """The extra last chunk of ``stream_options={"include_usage": True}``: no choices."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_dict(usage),
    }


def _base64_floats(vector: tuple[float, ...]) -> str:
    # OpenAI's base64 encoding is little-endian float32, which the SDK decodes itself.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embedding_dict(
    response: EmbeddingResponse, *, model: str, encoding_format: str | None = None
) -> dict[str, Any]:
    """A ``list`` of ``embedding`` objects in input order (base64 when asked)."""
    as_base64 = encoding_format == "base64"
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": _base64_floats(vector) if as_base64 else list(vector),
            }
            for i, vector in enumerate(response.embeddings)
        ],
        "model": model,
        "usage": {
            "prompt_tokens": response.usage.input_tokens,
            "total_tokens": response.usage.input_tokens,
        },
    }


class ChunkWriter:
    """Turns a stream of core :class:`~lmux_plug.ChatChunk` into OpenAI chunk dicts.

    Chunks that add nothing OpenAI can show (reasoning only, usage only) are dropped; usage
    is remembered and, when ``include_usage`` is set, sent as the final choice-less chunk.
    """

    __slots__ = ("completion_id", "cost", "created", "first", "include_usage", "model", "usage")

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self.completion_id = new_completion_id()
        self.created = int(time.time())
        self.first = True
        self.usage: Usage | None = None
        self.cost: Any = None

    def feed(self, chunk: ChatChunk) -> dict[str, Any] | None:
        """The OpenAI chunk for ``chunk``, or ``None`` if it carries nothing to show."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.cost is not None:
            self.cost = chunk.cost
        if not (chunk.delta or chunk.tool_call_deltas or chunk.finish_reason is not None):
            return None
        out = chunk_dict(
            chunk,
            model=self.model,
            completion_id=self.completion_id,
            created=self.created,
            first=self.first,
        )
        self.first = False
        return out

    def finish(self) -> dict[str, Any] | None:
        """The usage chunk, if the caller asked for one and the provider reported usage."""
        if not self.include_usage or self.usage is None:
            return None
        return usage_chunk_dict(
            self.usage, model=self.model, completion_id=self.completion_id, created=self.created
        )
