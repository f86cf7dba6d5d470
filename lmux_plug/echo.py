"""The built-in offline provider ``echo/``: deterministic, no key, no network.

``echo/<anything>`` answers with the text of the last user message; ``echo/reverse``
answers with it reversed. The Responses API and text completions echo
the same way. Token counts are ``ceil(characters / 4)`` per text, so usage
and cost are stable. Embeddings are unit vectors derived from a hash of each text.
It exists so the README's first command works anywhere, and as a reference plugin.

Tools and structured output work offline too, so a typical snippet runs with no server:

* with ``tools`` (and ``tool_choice`` not ``"none"``), a conversation whose last message
  is the user's gets one call of the chosen tool (the named one, else the first), with
  arguments built from its parameter schema; once the tool answered (last message a tool
  result), echo answers with that result as text;
* ``response_format`` ``json_schema`` gives JSON that validates against the schema;
  ``json_object`` gives ``{"echo": <text>}``.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

from lmux_plug._declarations import CHAT_CAPABILITIES
from lmux_plug._declarations import Capability
from lmux_plug._declarations import ModelSpec
from lmux_plug._declarations import ProviderSpec
from lmux_plug._echo_apis import lmux_plug_complete
from lmux_plug._echo_apis import lmux_plug_complete_stream
from lmux_plug._echo_apis import lmux_plug_create_response
from lmux_plug._echo_apis import lmux_plug_create_response_stream
from lmux_plug._pricing import ModelPricing
from lmux_plug.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Sequence

    from lmux_plug import _types
    from lmux_plug._context import ProviderContext
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug._types import FinishReason
    from lmux_plug._types import Message
    from lmux_plug._types import Tool
    from lmux_plug._types import ToolCall
    from lmux_plug._types import Usage
else:
    from lmux_plug.lazy import LazyModule

    # The call types load with the first call: registering echo is part of every
    # registry's construction, which must not create them (see lmux_plug.lazy).
    _types = LazyModule("lmux_plug._types")

__all__ = [
    "SPEC",
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
]

_FREE = ModelPricing(input=0, output=0)
_CAPS = CHAT_CAPABILITIES | {Capability.EMBED, Capability.RESPONSES, Capability.COMPLETIONS}
SPEC = ProviderSpec(
    name="echo",
    wire="echo",
    base_url="memory://echo",
    capabilities=_CAPS,
    models=(
        ModelSpec("echo-1", capabilities=_CAPS, pricing=_FREE, context_window=1_000_000),
        ModelSpec("reverse", capabilities=_CAPS, pricing=_FREE, context_window=1_000_000),
    ),
    description="built-in offline echo provider (no key, no network)",
)
DEFAULT_DIMENSIONS = 8


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(message: Message) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(p.text for p in content if isinstance(p, _types.TextContent))


def _answer(request: ChatRequest) -> tuple[str, Usage, FinishReason, tuple[ToolCall, ...]]:
    last = next((m for m in reversed(request.messages) if isinstance(m, _types.UserMessage)), None)
    text = "" if last is None else _text(last)
    if request.model == "reverse":
        text = text[::-1]
    prompt = sum(_tokens(_text(m)) for m in request.messages)
    tool = _tool_to_call(request)
    if tool is not None:
        call = _tool_call(tool, text, request)
        usage = _types.Usage(input_tokens=prompt, output_tokens=_tokens(call.arguments))
        return "", usage, _types.FinishReason.TOOL_CALLS, (call,)
    if request.messages and isinstance(request.messages[-1], _types.ToolMessage):
        text = _text(request.messages[-1])  # the tool answered: report its result
    text = _formatted(text, request)
    finish = _types.FinishReason.STOP
    if request.max_tokens is not None and len(text) > request.max_tokens * 4:
        text, finish = text[: request.max_tokens * 4], _types.FinishReason.LENGTH
    return text, _types.Usage(input_tokens=prompt, output_tokens=_tokens(text)), finish, ()


def _tool_to_call(request: ChatRequest) -> Tool | None:
    """The tool echo calls now, if any: only in answer to the user, never after a tool result."""
    if not request.tools or not request.messages:
        return None
    if not isinstance(request.messages[-1], _types.UserMessage):
        return None
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        return None
    if choice is not None and choice.mode == "function":
        return next((t for t in request.tools if t.function.name == choice.function_name), None)
    return request.tools[0]


def _tool_call(tool: Tool, text: str, request: ChatRequest) -> ToolCall:
    import hashlib  # noqa: PLC0415 - only tool calls need these
    import json  # noqa: PLC0415

    from lmux_plug._json_instance import instance_of  # noqa: PLC0415

    arguments = json.dumps(instance_of(tool.function.parameters, text), separators=(",", ":"))
    seed = f"{request.model}\0{tool.function.name}\0{arguments}\0{len(request.messages)}"
    call_id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
    return _types.ToolCall(id=call_id, name=tool.function.name, arguments=arguments)


def _formatted(text: str, request: ChatRequest) -> str:
    """The answer in the asked response format (JSON for json_object / json_schema)."""
    import json  # noqa: PLC0415 - only JSON answers need it; fast start-up

    response_format = request.response_format
    if isinstance(response_format, _types.JsonSchemaResponseFormat):
        from lmux_plug._json_instance import instance_of  # noqa: PLC0415

        return json.dumps(instance_of(response_format.schema, text))
    if isinstance(response_format, _types.JsonObjectResponseFormat):
        return json.dumps({"echo": text})
    return text


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare the ``echo`` provider."""
    return [SPEC]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    """Echo the last user message (returned through an awaitable)."""
    return _chat(request, provider)  # type: ignore[return-value]


async def _chat(request: ChatRequest, provider: ProviderContext) -> ChatResponse:
    text, usage, finish, calls = _answer(request)
    return _types.ChatResponse(
        content=None if calls else text,
        model=request.model,
        provider=provider.name,
        finish_reason=finish,
        usage=usage,
        tool_calls=calls,
    )


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Stream the echo word by word, then one terminal chunk with usage."""
    return _stream(request, provider)


async def _stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    from lmux_plug._api_synth import chat_chunks  # noqa: PLC0415 - lazy: fast import

    text, usage, finish, calls = _answer(request)
    for chunk in chat_chunks(
        text, calls, finish, usage, model=request.model, provider=provider.name
    ):
        yield chunk


def _vector(text: str, dimensions: int) -> tuple[float, ...]:
    import hashlib  # noqa: PLC0415 - only embeddings and tool calls need it; fast start-up

    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw[: dimensions * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(v / norm for v in values)


@hookimpl
def lmux_plug_embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    """One deterministic unit vector per input (awaitable)."""
    return _embed(request, provider)  # type: ignore[return-value]


async def _embed(request: EmbeddingRequest, provider: ProviderContext) -> EmbeddingResponse:
    dimensions = request.dimensions or DEFAULT_DIMENSIONS
    return _types.EmbeddingResponse(
        embeddings=[_vector(text, dimensions) for text in request.inputs],
        model=request.model,
        provider=provider.name,
        usage=_types.Usage(input_tokens=sum(_tokens(t) for t in request.inputs)),
    )
