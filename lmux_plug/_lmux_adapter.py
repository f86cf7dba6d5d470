"""Serve an lmux-style provider object (lmux's protocols) as an lmux-plug plugin.

``Registry.register("acme", AcmeProvider())`` with an object that has lmux's methods
(``achat`` / ``achat_stream`` / ``aembed`` / ``acreate_response``, see
:mod:`lmux_plug.protocols`) and no lmux-plug hooks wraps it in :class:`LmuxProviderPlugin`:
the declared capabilities follow from the protocols it implements, and each hook calls the
object with lmux's keywords and turns its answer (lmux's pydantic types, or anything with
the same attribute names) into the core types. So a provider written for lmux works
unchanged, with the router, the gateway and the contract suite.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from lmux_plug._aclose import aclose_if_any
from lmux_plug._context import ProviderContext
from lmux_plug._declarations import CHAT_CAPABILITIES
from lmux_plug._pricing import Cost
from lmux_plug._types import Capability
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatRequest
from lmux_plug._types import ChatResponse
from lmux_plug._types import EmbeddingRequest
from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import FinishReason
from lmux_plug._types import ProviderSpec
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolCallDelta
from lmux_plug._types import Usage
from lmux_plug.errors import ProviderError
from lmux_plug.hookspecs import hookimpl

__all__ = ["LmuxProviderPlugin", "is_lmux_provider"]

_CHAT_CAPS = CHAT_CAPABILITIES | {Capability.VISION, Capability.REASONING}


def is_lmux_provider(value: object) -> bool:
    """Whether ``value`` implements one of lmux's provider protocols (and no lmux-plug hooks)."""
    from lmux_plug.protocols import CompletionProvider  # noqa: PLC0415 - only when registering
    from lmux_plug.protocols import EmbeddingProvider  # noqa: PLC0415 - only when registering
    from lmux_plug.protocols import ResponsesProvider  # noqa: PLC0415 - only when registering

    if hasattr(value, "lmux_plug_providers"):
        return False
    return isinstance(value, (CompletionProvider, EmbeddingProvider, ResponsesProvider))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    return Usage(
        input_tokens=_int(getattr(raw, "input_tokens", 0)),
        output_tokens=_int(getattr(raw, "output_tokens", 0)),
        cache_read_tokens=_int(getattr(raw, "cache_read_tokens", 0)),
        cache_creation_tokens=_int(getattr(raw, "cache_creation_tokens", 0)),
        reasoning_tokens=_int(getattr(raw, "reasoning_tokens", 0)),
    )


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _cost(raw: Any) -> Cost | None:
    """Lmux's float ``Cost`` (``input_cost``, ``output_cost``, ...) or the core's own."""
    if raw is None or isinstance(raw, Cost):
        return raw
    return Cost(
        input=_decimal(getattr(raw, "input_cost", 0)),
        output=_decimal(getattr(raw, "output_cost", 0)),
        cache_read=_decimal(getattr(raw, "cache_read_cost", 0)),
        cache_write=_decimal(getattr(raw, "cache_creation_cost", 0)),
        currency=str(getattr(raw, "currency", "USD")),
    )


def _finish(raw: Any, *, tool_calls: bool) -> FinishReason:
    if raw is None:
        return FinishReason.TOOL_CALLS if tool_calls else FinishReason.STOP
    value = getattr(raw, "value", raw)
    try:
        return FinishReason(str(value))
    except ValueError:
        aliases = {"end_turn": FinishReason.STOP, "max_tokens": FinishReason.LENGTH}
        return aliases.get(str(value), FinishReason.OTHER)


def _tool_call(raw: Any) -> ToolCall:
    """Lmux's ``ToolCall(id, function=FunctionCallResult(name, arguments))`` or a flat one."""
    function = getattr(raw, "function", None) or raw
    return ToolCall(
        id=str(getattr(raw, "id", "")),
        name=str(getattr(function, "name", "")),
        arguments=str(getattr(function, "arguments", "{}") or "{}"),
    )


def _tool_delta(raw: Any) -> ToolCallDelta:
    function = getattr(raw, "function", None)
    return ToolCallDelta(
        index=_int(getattr(raw, "index", 0)),
        id=getattr(raw, "id", None),
        name=getattr(function, "name", None)
        if function is not None
        else getattr(raw, "name", None),
        arguments=(
            getattr(function, "arguments", None)
            if function is not None
            else getattr(raw, "arguments", None)
        )
        or "",
    )


class LmuxProviderPlugin:
    """An lmux-style provider object, served under ``prefix`` through the lmux-plug hooks."""

    def __init__(self, prefix: str, provider: object) -> None:
        from lmux_plug.protocols import CompletionProvider  # noqa: PLC0415
        from lmux_plug.protocols import EmbeddingProvider  # noqa: PLC0415
        from lmux_plug.protocols import ResponsesProvider  # noqa: PLC0415

        capabilities: set[Capability] = set()
        if isinstance(provider, CompletionProvider):
            capabilities |= _CHAT_CAPS
        if isinstance(provider, EmbeddingProvider):
            capabilities.add(Capability.EMBED)
        if isinstance(provider, ResponsesProvider):
            capabilities.add(Capability.RESPONSES)
        self.provider = provider
        self.spec = ProviderSpec(
            name=prefix,
            wire=f"lmux:{prefix}:{id(provider):x}",
            base_url=f"memory://lmux/{prefix}",
            capabilities=frozenset(capabilities),
            description=f"lmux-style provider {type(provider).__name__}",
        )

    def __repr__(self) -> str:
        return f"LmuxProviderPlugin({self.spec.name!r}, {type(self.provider).__name__})"

    @hookimpl
    def lmux_plug_providers(self) -> list[ProviderSpec]:
        """The one provider this wraps."""
        return [self.spec]

    @staticmethod
    def _chat_kwargs(request: ChatRequest) -> dict[str, Any]:
        """Lmux's keyword arguments (only those set; the rest as ``provider_params``)."""
        kwargs: dict[str, Any] = {
            name: value
            for name, value in (
                ("temperature", request.temperature),
                ("max_tokens", request.max_tokens),
                ("top_p", request.top_p),
                ("stop", list(request.stop) if request.stop else None),
                ("tools", list(request.tools) if request.tools else None),
                ("response_format", request.response_format),
                ("reasoning_effort", request.reasoning_effort),
            )
            if value is not None
        }
        if request.extra:
            kwargs["provider_params"] = dict(request.extra)
        return kwargs

    def _chat_response(
        self, raw: Any, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        if isinstance(raw, ChatResponse):
            return raw
        calls = tuple(_tool_call(c) for c in getattr(raw, "tool_calls", None) or ())
        return ChatResponse(
            content=getattr(raw, "content", None),
            model=str(getattr(raw, "model", None) or request.model),
            provider=provider.name,
            finish_reason=_finish(getattr(raw, "finish_reason", None), tool_calls=bool(calls)),
            tool_calls=calls,
            usage=_usage(getattr(raw, "usage", None)),
            cost=_cost(getattr(raw, "cost", None)),
            raw=raw,
        )

    @hookimpl
    def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> Any:
        """``await provider.achat(model, messages, ...)``."""
        return self._chat(request, provider)

    async def _chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        achat = getattr(self.provider, "achat", None)
        if achat is None:  # pragma: no cover - capability check prevents this
            msg = f"{self!r} has no achat"
            raise ProviderError(msg, provider=provider.name)
        raw = await achat(request.model, list(request.messages), **self._chat_kwargs(request))
        return self._chat_response(raw, request, provider)

    @hookimpl
    def lmux_plug_stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """``provider.achat_stream(model, messages, ...)``; one terminal chunk guaranteed."""
        return self._stream(request, provider)

    async def _stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        stream = self.provider.achat_stream(  # type: ignore[attr-defined]
            request.model, list(request.messages), **self._chat_kwargs(request)
        )
        if inspect.isawaitable(stream):
            stream = await stream
        finished = False
        usage: Usage | None = None
        tools = False
        try:
            async for raw in stream:
                if isinstance(raw, ChatChunk):
                    finished = finished or raw.finish_reason is not None
                    yield raw
                    continue
                deltas = tuple(_tool_delta(d) for d in getattr(raw, "tool_call_deltas", None) or ())
                tools = tools or bool(deltas)
                raw_usage = getattr(raw, "usage", None)
                if raw_usage is not None:
                    usage = _usage(raw_usage)
                reason = getattr(raw, "finish_reason", None)
                chunk = ChatChunk(
                    delta=getattr(raw, "delta", None) or "",
                    tool_call_deltas=deltas,
                    finish_reason=None
                    if reason is None or finished
                    else _finish(reason, tool_calls=tools),
                    usage=_usage(raw_usage) if raw_usage is not None else None,
                    cost=_cost(getattr(raw, "cost", None)),
                    model=request.model,
                    provider=provider.name,
                )
                finished = finished or chunk.finish_reason is not None
                yield chunk
        finally:
            await aclose_if_any(stream)
        if not finished:
            yield ChatChunk(
                finish_reason=FinishReason.TOOL_CALLS if tools else FinishReason.STOP,
                usage=usage,
                model=request.model,
                provider=provider.name,
            )

    @hookimpl
    def lmux_plug_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> Any:
        """``await provider.aembed(model, inputs)``."""
        return self._embed(request, provider)

    async def _embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        kwargs: dict[str, Any] = {"provider_params": dict(request.extra)} if request.extra else {}
        raw = await self.provider.aembed(request.model, list(request.inputs), **kwargs)  # type: ignore[attr-defined]
        if isinstance(raw, EmbeddingResponse):
            return raw
        return EmbeddingResponse(
            embeddings=getattr(raw, "embeddings", ()),
            model=str(getattr(raw, "model", None) or request.model),
            provider=provider.name,
            usage=_usage(getattr(raw, "usage", None)),
            cost=_cost(getattr(raw, "cost", None)),
        )

    @hookimpl
    def lmux_plug_create_response(self, request: Any, provider: ProviderContext) -> Any:
        """``await provider.acreate_response(model, input)``."""
        return self._create_response(request, provider)

    async def _create_response(self, request: Any, provider: ProviderContext) -> Any:
        from lmux_plug._api_types import ResponseResponse  # noqa: PLC0415
        from lmux_plug._types import AssistantMessage  # noqa: PLC0415

        value = (
            request.input if isinstance(request.input, str) else [dict(i) for i in request.input]
        )
        kwargs: dict[str, Any] = {"provider_params": dict(request.extra)} if request.extra else {}
        raw = await self.provider.acreate_response(request.model, value, **kwargs)  # type: ignore[attr-defined]
        if isinstance(raw, ResponseResponse):
            return raw
        text = str(getattr(raw, "output_text", "") or "")
        calls = tuple(_tool_call(c) for c in getattr(raw, "tool_calls", None) or ())
        raw_output = getattr(raw, "output", None)
        output: tuple[Any, ...] = (
            tuple(dict(i) if isinstance(i, Mapping) else i for i in raw_output)
            if raw_output
            else ((AssistantMessage(content=text),) if text else ()) + calls
        )
        return ResponseResponse(
            id=str(getattr(raw, "id", "") or ""),
            model=str(getattr(raw, "model", None) or request.model),
            provider=provider.name,
            status=str(getattr(raw, "status", None) or "completed"),
            output_text=text,
            output=output,
            tool_calls=calls,
            usage=_usage(getattr(raw, "usage", None)),
            cost=_cost(getattr(raw, "cost", None)),
            raw=raw,
        )
