"""The Responses / completion / transcription hooks and lmux-style methods of ``MockProvider``.

Scripted answers work as for chat: :meth:`MockProvider.enqueue` takes a ``str`` (answered
in the shape of whichever API is called), a ``ResponseResponse`` / ``CompletionResponse`` /
``TranscriptionResponse``, a list of the matching chunks (answers a stream), tool calls (a
Responses answer with function calls) or an exception instance.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import attrs

from lmux_plug._api_synth import completion_chunks
from lmux_plug._api_synth import input_text
from lmux_plug._api_synth import response_events
from lmux_plug._api_synth import response_from_text
from lmux_plug._api_synth import transcription_chunks
from lmux_plug._api_types import CompletionChunk
from lmux_plug._api_types import CompletionRequest
from lmux_plug._api_types import CompletionResponse
from lmux_plug._api_types import ResponseChunk
from lmux_plug._api_types import ResponseRequest
from lmux_plug._api_types import ResponseResponse
from lmux_plug._api_types import TranscriptionChunk
from lmux_plug._api_types import TranscriptionRequest
from lmux_plug._api_types import TranscriptionResponse
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatResponse
from lmux_plug._types import Credentials
from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import FinishReason
from lmux_plug._types import Secret
from lmux_plug._types import ToolCall
from lmux_plug._types import Usage
from lmux_plug.errors import InvalidRequestError
from lmux_plug.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmux_plug._context import ProviderContext
    from lmux_plug._pricing import ModelPricing
    from lmux_plug._types import ProviderSpec
    from lmux_plug.registry import Registry
    from lmux_plug.testing.mock import MockCall

__all__ = ["MockApis"]

DEFAULT_TEXT = "mock response"
T = TypeVar("T")


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _tool_calls(value: Any) -> tuple[ToolCall, ...] | None:
    if isinstance(value, ToolCall):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, ToolCall) for v in value):
        return tuple(value)
    return None


def _chunks_of(value: Any, kind: type) -> list[Any] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, kind) for c in value):
        return list(value)
    return None


def _api_hooks(
    kind: str,
    answer: type,
    chunk: type[T],
    shape: str,
    events: Callable[[Any], Iterable[T]],
) -> tuple[Callable[..., Any], Callable[..., AsyncIterator[T]]]:
    """The call and stream hook methods of one API (``kind``: ``"response"`` ...).

    The call hook answers from the queue / handler / default (an awaitable): a scripted
    ``answer`` as it is, anything else shaped by the method named ``shape`` from the
    request; the stream hook streams scripted ``chunk`` items, else the ``events`` of
    that answer.
    """

    def shaped(self: MockApis, result: Any, mock_call: MockCall) -> Any:
        if isinstance(result, answer):
            return result
        return getattr(self, shape)(result, mock_call.request, mock_call)

    def call(self: MockApis, request: Any, provider: ProviderContext) -> Any:
        scripted = self._mock_call(kind, request, provider)
        return self._answered(scripted, lambda result, c: shaped(self, result, c))

    def stream(self: MockApis, request: Any, provider: ProviderContext) -> AsyncIterator[T]:
        scripted = self._mock_call(f"{kind}_stream", request, provider)
        return self._streamed(scripted, chunk, lambda result, c: shaped(self, result, c), events)

    return hookimpl(call), hookimpl(stream)


class MockApis:
    """Mixed into :class:`~lmux_plug.testing.MockProvider`."""

    if TYPE_CHECKING:
        spec: ProviderSpec
        calls: list[MockCall]

        async def _next(self, call: MockCall) -> Any: ...

    _lmux_registry: Registry | None = None

    def _mock_call(self, kind: str, request: Any, provider: ProviderContext) -> MockCall:
        from lmux_plug.testing.mock import MockCall  # noqa: PLC0415 - mock.py imports this module

        return MockCall(kind, request, provider)  # type: ignore[arg-type]

    @staticmethod
    def _bad(value: Any, api: str, provider: str) -> InvalidRequestError:
        msg = f"MockProvider cannot answer {api} with {type(value).__name__}"
        return InvalidRequestError(msg, provider=provider)

    def _text(self, result: Any, api: str, call: MockCall) -> str:
        """The scripted text answer: ``DEFAULT_TEXT`` for none, refused unless a string."""
        text = DEFAULT_TEXT if result is None else result
        if not isinstance(text, str):
            raise self._bad(text, api, call.provider.name)
        return text

    async def _answered(self, call: MockCall, shape: Callable[[Any, MockCall], T]) -> T:
        """The scripted answer of ``call``, in the shape of its API."""
        return shape(await self._next(call), call)

    async def _streamed(
        self,
        call: MockCall,
        kind: type[T],
        shape: Callable[[Any, MockCall], Any],
        events: Callable[[Any], Iterable[T]],
    ) -> AsyncIterator[T]:
        """The scripted chunks of ``call`` (a list of ``kind``), else its answer's events."""
        result = await self._next(call)
        chunks = _chunks_of(result, kind)
        for chunk in chunks if chunks is not None else events(shape(result, call)):
            yield chunk

    # -- Responses --------------------------------------------------------------------------

    def _response(self, result: Any, request: ResponseRequest, call: MockCall) -> ResponseResponse:
        prompt = _tokens(input_text(request.input)) + _tokens(request.instructions or "")
        calls = _tool_calls(result)
        if calls is not None:
            return response_from_text(
                "",
                model=call.model,
                provider=call.provider.name,
                usage=Usage(input_tokens=prompt, output_tokens=len(calls)),
                tool_calls=calls,
            )
        text = self._text(result, "a response", call)
        usage = Usage(input_tokens=prompt, output_tokens=_tokens(text))
        return response_from_text(text, model=call.model, provider=call.provider.name, usage=usage)

    # -- text completions -------------------------------------------------------------------

    def _completion(
        self, result: Any, request: CompletionRequest, call: MockCall
    ) -> CompletionResponse:
        text = self._text(result, "a completion", call)
        prompts = (request.prompt,) if isinstance(request.prompt, str) else request.prompt
        usage = Usage(input_tokens=sum(_tokens(p) for p in prompts), output_tokens=_tokens(text))
        return CompletionResponse(
            text=text,
            model=call.model,
            provider=call.provider.name,
            finish_reason=FinishReason.STOP,
            usage=usage,
            choices=(text,),
        )

    # -- transcription ----------------------------------------------------------------------

    def _transcription(
        self, result: Any, request: TranscriptionRequest, call: MockCall
    ) -> TranscriptionResponse:
        text = self._text(result, "a transcription", call)
        return TranscriptionResponse(
            text=text,
            model=call.model,
            provider=call.provider.name,
            language=request.language,
            # A stable stand-in for the audio length: 16 kB per second (16 kHz, 8-bit mono).
            duration=round(len(request.audio) / 16_000, 3),
            usage=Usage(output_tokens=_tokens(text)),
        )

    # -- the hooks: one call and one stream hook per API, made alike -----------------------

    lmux_plug_create_response, lmux_plug_create_response_stream = _api_hooks(
        "response", ResponseResponse, ResponseChunk, "_response", response_events
    )

    lmux_plug_complete, lmux_plug_complete_stream = _api_hooks(
        "complete", CompletionResponse, CompletionChunk, "_completion", completion_chunks
    )

    lmux_plug_transcribe, lmux_plug_transcribe_stream = _api_hooks(
        "transcribe",
        TranscriptionResponse,
        TranscriptionChunk,
        "_transcription",
        transcription_chunks,
    )

    # -- lmux-style provider methods (CompletionProvider, EmbeddingProvider, ...) -----------

    def _own_registry(self) -> Registry:
        """A private registry serving only this mock, behind the lmux-style methods."""
        if self._lmux_registry is None:
            from lmux_plug.registry import Registry  # noqa: PLC0415 - registry imports testing lazily

            registry = Registry(builtins=False)
            registry.register(self.spec.name, self)
            self._lmux_registry = registry
        return self._lmux_registry

    def _ref(self, model: str) -> str:
        return model if "/" in model else f"{self.spec.name}/{model}"

    def chat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """The lmux ``CompletionProvider.chat``: ``model`` with or without the prefix."""
        return self._own_registry().chat(self._ref(model), messages, **params)

    async def achat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """The lmux ``CompletionProvider.achat``."""
        return await self._own_registry().achat(self._ref(model), messages, **params)

    def chat_stream(self, model: str, messages: Any, **params: Any) -> Iterator[ChatChunk]:
        """The lmux ``CompletionProvider.chat_stream``."""
        return self._own_registry().chat_stream(self._ref(model), messages, **params)

    def achat_stream(self, model: str, messages: Any, **params: Any) -> AsyncIterator[ChatChunk]:
        """The lmux ``CompletionProvider.achat_stream``."""
        return self._own_registry().achat_stream(self._ref(model), messages, **params)

    def embed(self, model: str, input: str | Sequence[str], **params: Any) -> EmbeddingResponse:  # noqa: A002
        """The lmux ``EmbeddingProvider.embed``."""
        return self._own_registry().embed(self._ref(model), input, **params)

    async def aembed(
        self,
        model: str,
        input: str | Sequence[str],  # noqa: A002
        **params: Any,
    ) -> EmbeddingResponse:
        """The lmux ``EmbeddingProvider.aembed``."""
        return await self._own_registry().aembed(self._ref(model), input, **params)

    def create_response(self, model: str, input: Any, **params: Any) -> ResponseResponse:  # noqa: A002
        """The lmux ``ResponsesProvider.create_response``."""
        return self._own_registry().create_response(self._ref(model), input, **params)

    async def acreate_response(self, model: str, input: Any, **params: Any) -> ResponseResponse:  # noqa: A002
        """The lmux ``ResponsesProvider.acreate_response``."""
        return await self._own_registry().acreate_response(self._ref(model), input, **params)

    def register_pricing(self, model: str, pricing: ModelPricing) -> None:
        """The lmux ``PricingProvider.register_pricing``: price ``model`` from now on."""
        from lmux_plug._types import ModelSpec  # noqa: PLC0415

        others = tuple(m for m in self.spec.models if m.id != model)
        existing = self.spec.model(model)
        updated = (
            attrs.evolve(existing, pricing=pricing)
            if existing is not None
            else ModelSpec(model, pricing=pricing)
        )
        self.spec = attrs.evolve(self.spec, models=(*others, updated))
        if self._lmux_registry is not None:
            self._lmux_registry.register(self.spec.name, self, replace=True)

    def get_credentials(self) -> Credentials:
        """The lmux ``AuthProvider.get_credentials``: the key from the declared env var, if any."""
        import os  # noqa: PLC0415

        for name in self.spec.auth.env:
            value = os.environ.get(name)
            if value:
                return Credentials(api_key=Secret(value))
        return Credentials()

    async def aget_credentials(self) -> Credentials:
        """The lmux ``AuthProvider.aget_credentials``."""
        return self.get_credentials()

    async def aclose(self) -> None:
        """The lmux ``AsyncCloseable.aclose``: release the private registry's connections."""
        if self._lmux_registry is not None:
            await self._lmux_registry.aclose()

    def close(self) -> None:
        """Release what the sync lmux-style methods opened (connections and loops)."""
        if self._lmux_registry is not None:
            self._lmux_registry.close()
