"""A small, correct third-party-style plugin: provider ``acme`` on the OpenAI wire.

It is the baseline of the broken examples (each overrides one method to add one defect)
and the plugin the acceptance test installs from outside the repository. It uses only the
public core API: the shared transport, the SSE decoder, the error mapping and converters.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from collections.abc import Sequence
from typing import Any

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import RateLimitError
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import Usage
from lmux_plug import hookimpl
from lmux_plug import per_million_tokens
from lmux_plug.convert import message_to_openai
from lmux_plug.wire import SSEDecoder

_CHAT = frozenset({Capability.CHAT, Capability.STREAM, Capability.TOOLS})
SPEC = ProviderSpec(
    name="acme",
    wire="openai",
    base_url="https://api.acme.example/v1",
    auth=ApiKeyAuth(env=("ACME_API_KEY",)),
    capabilities=_CHAT,
    models=(
        ModelSpec(
            "acme-chat",
            capabilities=_CHAT,
            pricing=ModelPricing(input=per_million_tokens("1"), output=per_million_tokens("2")),
        ),
        ModelSpec("acme-embed", capabilities=frozenset({Capability.EMBED})),
    ),
)
#: What indexing an answer of an unexpected shape raises: each is the API's fault, so it
#: becomes a ProviderError naming the answer (never a foreign exception).
_SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError, struct.error)
_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}


def _vector(value: list[Any] | str) -> list[float]:
    """A float list, or the base64 of little-endian float32s (``encoding_format=base64``)."""
    if isinstance(value, str):
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(x) for x in value]


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _text(value: Any, default: str | None = None) -> Any:
    """A text field (``default`` when absent); anything else is a shape error."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise TypeError(f"not text: {value!r:.40}")


def _bad(message: str, provider: ProviderContext, request: Any) -> ProviderError:
    return ProviderError(message, provider=provider.name, model=request.model)


class AcmePlugin:
    """The plugin object; subclasses in ``plugins.py`` each break one thing."""

    spec = SPEC

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        """Declare ``acme``."""
        return [self.spec]

    @hookimpl
    def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> Any:
        """Chat (awaitable)."""
        return self.chat(request, provider)

    @hookimpl
    def lmux_plug_stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """Stream."""
        return self.stream(request, provider)

    @hookimpl
    def lmux_plug_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> Any:
        """Embed (awaitable)."""
        return self.embed(request, provider)

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The Chat Completions body."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [message_to_openai(m) for m in request.messages],
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.function.name,
                        "description": t.function.description or "",
                        "parameters": dict(t.function.parameters),
                        # null (unset) is the API's default: not strict.
                        "strict": t.function.strict,
                    },
                }
                for t in request.tools
            ]
        choice = request.tool_choice
        # Without tools the API refuses any tool_choice (400): auto and none then ask nothing.
        if choice is not None and (request.tools or choice.mode in ("required", "function")):
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice.function_name}}
                if choice.mode == "function"
                else choice.mode
            )
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    def usage(self, data: Any) -> Usage:
        """OpenAI usage -> Usage (a count that is absent or not a number counts as 0)."""
        if not isinstance(data, dict):
            return Usage()
        return Usage(
            input_tokens=_count(data.get("prompt_tokens")),
            output_tokens=_count(data.get("completion_tokens")),
        )

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        """POST through the core transport and decode the JSON answer."""
        response = await provider.transport.request(
            "POST",
            provider.url(path),
            headers={**provider.auth_headers(), **request.extra_headers},
            json_body=body,
            timeout=request.timeout,
            provider=provider.name,
            model=request.model,
            secrets=provider.secrets(),
        )
        return response.json(provider=provider.name, model=request.model)

    # -- chat -------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        """One chat call."""
        data = await self.post(
            provider, "chat/completions", self.encode(request, stream=False), request
        )
        try:
            choice = data["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(
                    id=_text(c.get("id"), ""),
                    name=_text(c["function"]["name"], ""),
                    arguments=_text(c["function"].get("arguments")) or "{}",
                )
                for c in message.get("tool_calls") or ()
            )
            # An answer that states no reason but calls tools ended to call them.
            stated = choice.get("finish_reason") or ("tool_calls" if calls else "stop")
            finish = _FINISH.get(stated, FinishReason.OTHER)
            content, refusal = _text(message.get("content")), _text(message.get("refusal"))
        except _SHAPE_ERRORS:
            raise _bad(f"unexpected answer: {str(data)[:200]}", provider, request) from None
        return ChatResponse(
            content=content,
            refusal=refusal,
            tool_calls=calls,
            model=str(data.get("model") or request.model),
            provider=provider.name,
            finish_reason=finish,
            usage=self.usage(data.get("usage")),
            request_id=data["id"] if isinstance(data.get("id"), str) else None,
        )

    # -- stream -----------------------------------------------------------------------------

    async def open_stream(self, request: ChatRequest, provider: ProviderContext) -> Any:
        """Open the SSE response."""
        return await provider.transport.stream(
            "POST",
            provider.url("chat/completions"),
            headers={**provider.auth_headers(), **request.extra_headers},
            json_body=self.encode(request, stream=True),
            timeout=request.timeout,
            provider=provider.name,
            model=request.model,
            secrets=provider.secrets(),
        )

    def decode_event(
        self, data: str, provider: ProviderContext, request: ChatRequest
    ) -> dict[str, Any]:
        """One ``data:`` payload as a dict; errors and malformed JSON raise ProviderError."""
        try:
            payload = json.loads(data)
        except ValueError:
            raise _bad(f"malformed stream event: {data[:100]!r}", provider, request) from None
        if not isinstance(payload, dict):
            raise _bad(f"unexpected stream event: {data[:100]!r}", provider, request)
        if payload.get("error"):
            error = payload["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            kind = f"{error.get('type')} {error.get('code')}" if isinstance(error, dict) else ""
            code = error.get("code") if isinstance(error, dict) else None
            # A numeric code is the HTTP status the event stands for (OpenRouter relays it).
            status = code if type(code) is int and 400 <= code < 600 else None
            error_class = RateLimitError if "rate_limit" in kind or "429" in kind else ProviderError
            error = error_class(
                f"error event in stream: {message}",
                provider=provider.name,
                model=request.model,
                status_code=status,
            )
            return self.error_event(error, provider)
        return payload

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        """What an error event in a stream gives: ``error``, the LmuxError it stands for, raised.

        The one place the broken variants change how a stream's error events are read.
        """
        raise error

    async def stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """Stream; usage (sent after the finish chunk) is put on the one terminal chunk."""
        response = await self.open_stream(request, provider)
        try:
            async for chunk in self.decode_stream(response, request, provider):
                yield chunk
        finally:
            response.close()

    async def decode_stream(
        self, response: Any, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """Decode the SSE bytes into chunks."""
        decoder = SSEDecoder()
        finish: FinishReason | None = None
        usage: Usage | None = None
        done = False
        model = request.model  # each event names the model that answers
        async for raw in response.iter_bytes():
            for event in decoder.feed(raw):
                if event.data == "[DONE]":
                    done = True
                    continue
                payload = self.decode_event(event.data, provider, request)
                model = str(payload.get("model") or model)
                if payload.get("usage"):
                    usage = self.usage(payload["usage"])
                try:
                    chunks, finished = self.choice_chunks(payload, request, provider)
                except _SHAPE_ERRORS:
                    msg = f"unexpected stream event: {event.data[:100]!r}"
                    raise _bad(msg, provider, request) from None
                for chunk in chunks:
                    yield chunk
                finish = finished or finish
        if finish is None or not done:
            raise _bad("stream ended before the answer was complete", provider, request)
        yield ChatChunk(finish_reason=finish, usage=usage, provider=provider.name, model=model)

    def choice_chunks(
        self, payload: dict[str, Any], request: ChatRequest, provider: ProviderContext
    ) -> tuple[list[ChatChunk], FinishReason | None]:
        """The chunks of one stream event's choices, and the finish reason it carries."""
        chunks: list[ChatChunk] = []
        finish: FinishReason | None = None
        for choice in payload.get("choices") or ():
            delta = choice.get("delta") or {}
            deltas = tuple(
                ToolCallDelta(
                    index=int(t.get("index", 0)),
                    id=_text(t.get("id")),
                    name=_text((t.get("function") or {}).get("name")),
                    arguments=_text((t.get("function") or {}).get("arguments"), ""),
                )
                for t in delta.get("tool_calls") or ()
            )
            text = _text(delta.get("content"), "")
            if text or deltas:
                chunks.append(
                    ChatChunk(
                        delta=text,
                        tool_call_deltas=deltas,
                        provider=provider.name,
                        model=str(payload.get("model") or request.model),
                    )
                )
            if choice.get("finish_reason"):
                finish = _FINISH.get(choice["finish_reason"], FinishReason.OTHER)
        return chunks, finish

    # -- embeddings -------------------------------------------------------------------------

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        """Embeddings, sorted by their ``index``."""
        body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        data = await self.post(provider, "embeddings", body, request)
        try:
            ordered = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [_vector(item["embedding"]) for item in ordered]
        except _SHAPE_ERRORS:
            raise _bad(f"unexpected answer: {str(data)[:200]}", provider, request) from None
        if len(vectors) != len(request.inputs):
            msg = f"{len(vectors)} vectors for {len(request.inputs)} inputs"
            raise _bad(msg, provider, request)
        return EmbeddingResponse(
            embeddings=vectors,
            model=request.model,
            provider=provider.name,
            usage=self.usage(data.get("usage")),
        )


plugin = AcmePlugin()
