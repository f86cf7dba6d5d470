"""``MockProvider``: a scriptable provider plugin that records every call.

Script it with a queue (:meth:`MockProvider.enqueue`) or a handler function (sync or async,
like ``httpx.MockTransport``). When neither has an answer the mock has *run dry*: it
answers ``default`` (``"mock response"`` for a ``MockProvider()`` built directly), or,
with ``default=NO_DEFAULT`` (what the ``lmux_mock`` fixture uses), raises
:class:`MockExhaustedError` naming the call, so a test cannot pass on an answer nobody
scripted. Each call is recorded in
:attr:`MockProvider.calls` with the typed request and all its parameters; calls that found
the mock dry are counted in :attr:`MockProvider.dry_calls`.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import Literal

import attrs

from lmux_plug._api_synth import chat_chunks
from lmux_plug._context import ProviderContext
from lmux_plug._pricing import ModelPricing
from lmux_plug._types import ApiKeyAuth
from lmux_plug._types import Capability
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatRequest
from lmux_plug._types import ChatResponse
from lmux_plug._types import EmbeddingRequest
from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import FinishReason
from lmux_plug._types import ModelSpec
from lmux_plug._types import NoAuth
from lmux_plug._types import ProviderSpec
from lmux_plug._types import ToolCall
from lmux_plug._types import Usage
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.hookspecs import hookimpl
from lmux_plug.testing._mock_apis import MockApis

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_TEXT",
    "NO_DEFAULT",
    "MockCall",
    "MockExhaustedError",
    "MockProvider",
]

ALL_CAPABILITIES = frozenset(Capability)
#: The answer of a directly built ``MockProvider`` when nothing is scripted.
DEFAULT_TEXT = "mock response"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: ``default=NO_DEFAULT``: running dry raises :class:`MockExhaustedError`.
NO_DEFAULT: Any = _NoDefault()


class MockExhaustedError(LmuxError):
    """A :class:`MockProvider` was called with nothing scripted and no ``default``."""


CallKind = Literal[
    "chat",
    "stream",
    "embed",
    "response",
    "response_stream",
    "complete",
    "complete_stream",
    "transcribe",
    "transcribe_stream",
]
# A scripted answer: ChatResponse | str | ToolCall(s) | list[ChatChunk] | EmbeddingResponse |
# list of vectors | an exception instance to raise.
Scripted = Any


@attrs.frozen
class MockCall:
    """One recorded call: which hook, the typed request and the bound provider."""

    kind: CallKind
    # ChatRequest, EmbeddingRequest, or a Response/Completion/TranscriptionRequest.
    request: Any
    provider: ProviderContext = attrs.field(repr=False)

    @property
    def model(self) -> str:
        """The model id the call asked for (prefix removed)."""
        model: str = self.request.model
        return model

    @property
    def messages(self) -> tuple[Any, ...]:
        """The request's messages (empty for embeddings)."""
        return self.request.messages if isinstance(self.request, ChatRequest) else ()

    @property
    def params(self) -> dict[str, Any]:
        """Every request field except model and messages/inputs, as a dict."""
        fields = attrs.asdict(self.request, recurse=False)
        for name in ("model", "messages", "inputs", "input", "prompt", "audio"):
            fields.pop(name, None)
        return fields


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4  # ceil(len / 4) in integers


class MockProvider(MockApis):
    """A provider plugin for tests; register it with ``registry.register("mock", mock)``.

    It serves every call hook (chat, stream, embed, Responses, completions, transcription)
    and also implements lmux's provider protocols (``mock.chat("mock-model", ...)``), so
    code written against lmux can use it unchanged.

    :param name: the prefix it declares (``register`` may put it under another one).
    :param handler: ``handler(call) -> result`` (or an awaitable of it), used when the
        queue is empty; results are what :meth:`enqueue` takes.
    :param capabilities: what it declares (default: everything).
    :param pricing: declared for every model (default: none, so ``cost`` is ``None``).
    :param api_key_env: declare key auth read from this env var (default: no auth).
    :param default: the answer when the queue is empty and there is no handler (anything
        :meth:`enqueue` takes); ``NO_DEFAULT`` makes running dry a
        :class:`MockExhaustedError`.
    """

    def __init__(
        self,
        name: str = "mock",
        *,
        handler: Callable[[MockCall], Any] | None = None,
        capabilities: Iterable[Capability] = ALL_CAPABILITIES,
        models: Sequence[str] = ("mock-model",),
        pricing: ModelPricing | None = None,
        api_key_env: str | None = None,
        default: Scripted = DEFAULT_TEXT,
    ) -> None:
        caps = frozenset(capabilities)
        self.spec = ProviderSpec(
            name=name,
            wire="mock",
            base_url=f"mock://{name}",
            auth=ApiKeyAuth(env=(api_key_env,)) if api_key_env else NoAuth(),
            capabilities=caps,
            models=tuple(ModelSpec(m, pricing=pricing) for m in models),
            description="lmux_plug.testing.MockProvider",
        )
        self.handler = handler
        self.default: Scripted = default
        self.calls: list[MockCall] = []
        self.dry_calls = 0
        self._queue: deque[Scripted] = deque()
        self._registry: Any = None  # set by the ``lmux_mock`` fixture, for intercept()

    def __repr__(self) -> str:
        queued, calls = len(self._queue), len(self.calls)
        return f"MockProvider(name={self.spec.name!r}, queued={queued}, calls={calls})"

    # -- scripting ------------------------------------------------------------------------

    def enqueue(self, *results: Scripted) -> MockProvider:
        """Queue answers for the next calls, in order.

        A ``str`` or ``ChatResponse`` answers a chat (a ``str`` is also streamed word by
        word); a list of ``ChatChunk`` answers a stream; an ``EmbeddingResponse`` or a list
        of vectors answers an embed; an exception instance is raised.
        """
        self._queue.extend(results)
        return self

    def enqueue_error(self, error: BaseException) -> MockProvider:
        """Queue an exception to raise on the next call."""
        return self.enqueue(error)

    def reset(self) -> None:
        """Forget recorded calls, queued answers and the count of dry calls."""
        self.calls.clear()
        self._queue.clear()
        self.dry_calls = 0

    def intercept(self, *patterns: str, registry: Any = None) -> MockProvider:
        """Answer every call whose model matches ``"prefix/*"`` (or ``"prefix"``).

        ``lmux_mock.intercept("openai/*")`` sends ``openai/gpt-4o`` (and the drop-in
        client's bare ``gpt-4o``) to this mock, so application code keeps its model names.
        ``registry`` defaults to the one the ``lmux_mock`` fixture registered this mock in.
        """
        target = registry if registry is not None else self._registry
        if target is None:
            msg = "intercept() needs registry= (or use the lmux_mock fixture)"
            raise ConfigurationError(msg)
        for pattern in patterns:
            prefix, sep, rest = pattern.partition("/")
            if not prefix or "*" in prefix or (sep and rest != "*"):
                msg = (
                    f"intercept pattern {pattern!r}: use 'prefix/*' (or 'prefix'); "
                    "calls are routed by their provider prefix"
                )
                raise ConfigurationError(msg)
            _refuse_misspelt_prefix(target, pattern, prefix)
            target.register(prefix, self, replace=True)
        return self

    @property
    def last_call(self) -> MockCall:
        """The most recent call (``IndexError`` if none)."""
        return self.calls[-1]

    async def _next(self, call: MockCall) -> Scripted:
        self.calls.append(call)
        if self._queue:
            result = self._queue.popleft()
        elif self.handler is not None:
            result = self.handler(call)
            if inspect.isawaitable(result):
                result = await result
        elif self.default is not NO_DEFAULT:
            result = self.default
        else:
            self.dry_calls += 1
            msg = (
                f"MockProvider {self.spec.name!r} ran dry: {call.kind} call #{len(self.calls)} "
                f"for {call.provider.name}/{call.model} has no scripted answer; "
                "enqueue() one, set a handler, or opt out with default=... "
                "(lmux_mock.default = 'mock response')"
            )
            raise MockExhaustedError(msg, provider=call.provider.name, model=call.model)
        if isinstance(result, BaseException):
            raise result
        return result

    # -- hooks ----------------------------------------------------------------------------

    @hookimpl
    def lmux_plug_providers(self) -> list[ProviderSpec]:
        """Declare this mock's provider."""
        return [self.spec]

    @hookimpl
    def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> Any:
        """Answer from the queue / handler / default (an awaitable)."""
        return self._chat(MockCall("chat", request, provider))

    async def _chat(self, call: MockCall) -> ChatResponse:
        result = await self._next(call)
        return self._as_response(result, call)

    def _as_response(self, result: Scripted, call: MockCall) -> ChatResponse:
        if type(result) is str:  # the usual answer (and the default): the shortest way
            return self._text_response(result, call)
        if isinstance(result, ChatResponse):
            return result
        text = DEFAULT_TEXT if result is None else result
        if isinstance(text, ToolCall) or (
            isinstance(text, (list, tuple)) and text and isinstance(text[0], ToolCall)
        ):
            calls = (text,) if isinstance(text, ToolCall) else tuple(text)
            return ChatResponse(
                content=None,
                tool_calls=calls,
                model=call.model,
                provider=call.provider.name,
                finish_reason=FinishReason.TOOL_CALLS,
                usage=self._usage(call, ""),
            )
        if not isinstance(text, str):
            msg = f"MockProvider cannot answer a chat with {type(text).__name__}"
            raise InvalidRequestError(msg, provider=call.provider.name)
        return self._text_response(text, call)

    def _text_response(self, text: str, call: MockCall) -> ChatResponse:
        return ChatResponse(
            content=text,
            model=call.model,
            provider=call.provider.name,
            finish_reason=FinishReason.STOP,
            usage=self._usage(call, text),
        )

    @staticmethod
    def _usage(call: MockCall, text: str) -> Usage:
        # A plain loop: this runs on every mock chat, which bench_dispatch.py times.
        prompt = 0
        for message in call.messages:
            content = getattr(message, "content", None)
            prompt += _tokens(content) if isinstance(content, str) else 1
        return Usage(input_tokens=prompt, output_tokens=_tokens(text))

    @hookimpl
    def lmux_plug_stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """Stream from the queue / handler / default."""
        return self._stream(MockCall("stream", request, provider))

    async def _stream(self, call: MockCall) -> AsyncIterator[ChatChunk]:
        result = await self._next(call)
        if isinstance(result, (list, tuple)) and all(isinstance(c, ChatChunk) for c in result):
            for chunk in result:
                if isinstance(chunk, BaseException):  # pragma: no cover - typed above
                    raise chunk
                yield chunk
            return
        response = self._as_response(result, call)
        for chunk in chat_chunks(
            response.content or "",
            response.tool_calls,
            response.finish_reason,
            response.usage,
            model=call.model,
            provider=call.provider.name,
        ):
            yield chunk

    @hookimpl
    def lmux_plug_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> Any:
        """Embed from the queue / handler / default (vectors derived from text length)."""
        return self._embed(MockCall("embed", request, provider))

    async def _embed(self, call: MockCall) -> EmbeddingResponse:
        result = await self._next(call)
        if isinstance(result, EmbeddingResponse):
            return result
        assert isinstance(call.request, EmbeddingRequest)  # noqa: S101 - kind says so
        inputs = call.request.inputs
        # A text answer (such as the default) cannot be vectors: derive them from the inputs.
        vectors = (
            result
            if result is not None and not isinstance(result, str)
            else [[float(len(text)), float(i), 1.0] for i, text in enumerate(inputs)]
        )
        return EmbeddingResponse(
            embeddings=vectors,
            model=call.model,
            provider=call.provider.name,
            usage=Usage(input_tokens=sum(_tokens(t) for t in inputs)),
        )


def _refuse_misspelt_prefix(registry: Any, pattern: str, prefix: str) -> None:
    """Refuse ``intercept("opena/*")``, which would catch no ``openai/...`` call.

    A prefix that no provider's name is close to (an application's own name, a plugin not
    installed here) is taken as meant.
    """
    from lmux_plug._cli_models import KNOWN_PLUGINS  # noqa: PLC0415 - keeps the import light
    from lmux_plug.params import did_you_mean  # noqa: PLC0415

    names = {spec.name for spec in registry.providers()} | KNOWN_PLUGINS.keys()
    if prefix in names:
        return
    hint = did_you_mean(prefix, sorted(names))
    if hint:
        msg = (
            f"intercept pattern {pattern!r}: no provider is called {prefix!r}{hint}; "
            "calls are routed by their provider prefix, so this would catch none of them"
        )
        raise ConfigurationError(msg)
