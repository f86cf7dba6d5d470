"""The registry methods of the Responses, text-completion and transcription APIs.

:class:`ApiMethods` is a base class of :class:`lmux_plug.Registry`: each method resolves the
model, checks the declared capabilities (before any I/O), binds credentials, calls the owning
plugin's hook (plus wrappers), maps foreign errors and prices the answer. Every method takes
``api_key``, ``base_url``, ``timeout``, ``extra_headers`` and ``extra_body``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import TypeVar

import attrs

from lmux_plug._aclose import aclose_if_any
from lmux_plug._declarations import Capability
from lmux_plug._evolve import evolve
from lmux_plug._plugins import Hooks
from lmux_plug._pricing import Cost
from lmux_plug._pricing import ModelPricing
from lmux_plug._pricing import calculate_cost
from lmux_plug._pricing import duration_cost
from lmux_plug._secrets import scrub_exception
from lmux_plug.errors import LmuxError
from lmux_plug.errors import PluginError

if TYPE_CHECKING:
    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._api_types import TranscriptionChunk
    from lmux_plug._api_types import TranscriptionResponse
    from lmux_plug._context import ProviderContext
    from lmux_plug._plugins import CallHooks
    from lmux_plug._sync import LoopRunner
    from lmux_plug._types import Usage
    from lmux_plug.params import ChatCallParams
    from lmux_plug.params import EmbedCallParams
    from lmux_plug.registry import Route

__all__ = ["ApiMethods", "take_credentials"]

_TokenPricedT = TypeVar("_TokenPricedT", "ResponseResponse", "CompletionResponse")


def take_credentials(
    params: ChatCallParams | EmbedCallParams | dict[str, Any],
) -> tuple[str | None, str | None]:
    """Take a call's own ``api_key`` and ``base_url`` out of its keywords (the rest is sent)."""
    return params.pop("api_key", None), params.pop("base_url", None)


def _token_cost(usage: Usage | None, pricing: ModelPricing | None) -> Cost | None:
    if usage is None or pricing is None:
        return None
    return calculate_cost(usage, pricing)


def _priced_by_tokens(response: _TokenPricedT, pricing: ModelPricing | None) -> _TokenPricedT:
    """A Responses or text-completion answer with its cost from its tokens (if not set)."""
    if response.cost is not None or pricing is None:
        return response
    return attrs.evolve(response, cost=calculate_cost(response.usage, pricing))


def _priced_transcription(
    response: TranscriptionResponse, pricing: ModelPricing | None
) -> TranscriptionResponse:
    """Duration-billed models by their per-minute rate, token-billed ones by their tokens."""
    if response.cost is not None or pricing is None:
        return response
    cost = None
    if pricing.per_minute is not None and response.duration is not None:
        cost = duration_cost(response.duration, pricing)
    elif response.usage.total_tokens:
        cost = calculate_cost(response.usage, pricing)
    return response if cost is None else attrs.evolve(response, cost=cost)


def _price_response_chunk(chunk: ResponseChunk, pricing: ModelPricing | None) -> ResponseChunk:
    if pricing is None:
        return chunk
    response = chunk.response
    if response is not None and response.cost is None:
        response = _priced_by_tokens(response, pricing)
        return attrs.evolve(chunk, response=response, cost=chunk.cost or response.cost)
    if chunk.usage is not None and chunk.cost is None:
        return attrs.evolve(chunk, cost=_token_cost(chunk.usage, pricing))
    return chunk


def _price_completion_chunk(
    chunk: CompletionChunk, pricing: ModelPricing | None
) -> CompletionChunk:
    if pricing is None or chunk.usage is None or chunk.cost is not None:
        return chunk
    return attrs.evolve(chunk, cost=calculate_cost(chunk.usage, pricing))


def _price_transcription_chunk(
    chunk: TranscriptionChunk, pricing: ModelPricing | None
) -> TranscriptionChunk:
    if pricing is None or chunk.response is None or chunk.response.cost is not None:
        return chunk
    response = _priced_transcription(chunk.response, pricing)
    return attrs.evolve(chunk, response=response, cost=chunk.cost or response.cost)


def _with_context(exc: LmuxError, provider: str, model: str) -> LmuxError:
    if exc.provider is None:
        exc.provider = provider
    if exc.model is None:
        exc.model = model
    return exc


def _plugin_bug(exc: Exception, provider: str, model: str) -> PluginError:
    # The foreign exception stays the cause (for debugging); its text must not leak keys.
    scrub_exception(exc)
    msg = f"plugin for {provider!r} raised {type(exc).__name__}: {exc}"
    return PluginError(msg, provider=provider, model=model)


class _PluginErrors:
    """Gives what escapes a plugin call the call's context; the one mapping of every call path.

    An :class:`~lmux_plug.errors.LmuxError` gets the provider and model it lacks; any other
    exception is a plugin bug, a :class:`~lmux_plug.errors.PluginError` with the foreign
    exception as its cause. ``BaseException`` (cancellation, ``GeneratorExit`` when a stream
    is closed early) passes unchanged. A class rather than ``contextlib.contextmanager``: it
    wraps every call, and costs no generator.
    """

    __slots__ = ("model", "provider")

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, LmuxError):
            raise _with_context(exc, self.provider, self.model) from None
        if isinstance(exc, Exception):
            raise _plugin_bug(exc, self.provider, self.model) from exc


def _needs(capability: Capability, stream: bool) -> tuple[Capability, ...]:
    return (capability, Capability.STREAM) if stream else (capability,)


# The request builders import lmux_plug._api_params on first use (it is not needed for
# chat, and ``import lmux_plug`` stays fast). Each returns the request and the
# capabilities it needs from the model.


def _response_request(
    model_id: str, subject: Any, params: dict[str, Any], stream: bool
) -> tuple[object, Collection[Capability]]:
    from lmux_plug._api_params import response_request  # noqa: PLC0415 - lazy: fast import

    # The request says what it needs (tools, formats); a stream needs nothing more.
    del stream
    return response_request(model_id, subject, params)


def _completion_request(
    model_id: str, subject: Any, params: dict[str, Any], stream: bool
) -> tuple[object, Collection[Capability]]:
    from lmux_plug._api_params import completion_request  # noqa: PLC0415 - lazy: fast import

    return completion_request(model_id, subject, params), _needs(Capability.COMPLETIONS, stream)


def _transcribe_request(
    model_id: str, subject: Any, params: dict[str, Any], stream: bool
) -> tuple[object, Collection[Capability]]:
    from lmux_plug._api_params import transcription_request  # noqa: PLC0415 - lazy: fast import

    request = transcription_request(model_id, subject, params)
    return request, _needs(Capability.TRANSCRIPTION, stream)


class _Api(NamedTuple):
    """One API beyond chat: its request builder, its hook (``<hook>_stream`` streams), prices."""

    request: Callable[[str, Any, dict[str, Any], bool], tuple[object, Collection[Capability]]]
    hook: str
    price: Callable[[Any, ModelPricing | None], Any]
    price_chunk: Callable[[Any, ModelPricing | None], Any]


_RESPONSES = _Api(
    _response_request, "lmux_plug_create_response", _priced_by_tokens, _price_response_chunk
)
_COMPLETIONS = _Api(
    _completion_request, "lmux_plug_complete", _priced_by_tokens, _price_completion_chunk
)
_TRANSCRIPTION = _Api(
    _transcribe_request, "lmux_plug_transcribe", _priced_transcription, _price_transcription_chunk
)


class ApiMethods:
    """Responses, text completions and transcription, async and sync (mixed into Registry)."""

    if TYPE_CHECKING:
        _runner: LoopRunner

        def resolve(self, model: str) -> tuple[Route, str]: ...
        def _check(self, route: Route, model_id: str, needed: Collection[Capability]) -> None: ...
        def _context(
            self, route: Route, api_key: str | None, base_url: str | None
        ) -> ProviderContext: ...
        def _pricing(self, route: Route, model_id: str) -> ModelPricing | None: ...
        def _calls(self, route: Route) -> CallHooks: ...

    # -- the shared call paths ------------------------------------------------------------

    def _prepared(
        self,
        api: _Api,
        model: str,
        subject: Any,
        params: dict[str, Any],
        *,
        stream: bool,
    ) -> tuple[Route, str, object, ProviderContext]:
        """Resolve, build the request, check capabilities (before any I/O), bind credentials.

        The call's own ``api_key`` and ``base_url`` are taken out of ``params``, as for chat.
        """
        api_key, base_url = take_credentials(params)
        route, model_id = self.resolve(model)
        request, needed = api.request(model_id, subject, params, stream)
        self._check(route, model_id, needed)
        return route, model_id, request, self._context(route, api_key, base_url)

    async def _api_answer(
        self,
        api: _Api,
        model: str,
        subject: Any,
        params: dict[str, Any],
    ) -> Any:
        """One whole answer of ``api``: prepared, called, errors mapped, latency set, priced."""
        route, model_id, request, context = self._prepared(
            api, model, subject, params, stream=False
        )
        started = time.perf_counter()
        with _PluginErrors(route.spec.name, model_id):
            response = await Hooks.call(self._calls(route), api.hook, request, context)
        if getattr(response, "latency", 0) is None:
            response = evolve(response, latency=time.perf_counter() - started)
        return api.price(response, self._pricing(route, model_id))

    async def _api_stream(
        self,
        api: _Api,
        model: str,
        subject: Any,
        params: dict[str, Any],
    ) -> AsyncIterator[Any]:
        """Prepare (checks, credentials) when iteration starts, then relay ``api``'s stream.

        One generator, so closing it early closes the plugin's iterator at once.
        """
        route, model_id, request, context = self._prepared(api, model, subject, params, stream=True)
        pricing = self._pricing(route, model_id)
        with _PluginErrors(route.spec.name, model_id):
            iterator: AsyncIterator[Any] = Hooks.call(
                self._calls(route), f"{api.hook}_stream", request, context
            )
            try:
                async for chunk in iterator:
                    yield api.price_chunk(chunk, pricing)
            finally:
                await aclose_if_any(iterator)

    # -- Responses ------------------------------------------------------------------------

    async def acreate_response(
        self,
        model: str,
        input: str | Iterable[Any],  # noqa: A002 - the Responses API's own name
        **params: Any,
    ) -> ResponseResponse:
        """Create a response with the Responses API.

        ``input`` is a string or a list of input items (Responses dicts, chat-style dicts,
        core messages, tool calls, or the ``output`` of a previous response). ``params``:
        ``instructions``, ``tools`` (function tools and hosted tools such as
        ``{"type": "web_search"}``), ``tool_choice``, ``text`` or ``response_format``,
        ``reasoning`` (or ``reasoning_effort``), ``previous_response_id``,
        ``max_output_tokens``, ``temperature``, ``top_p``, ``store``, ``include``,
        ``prompt_cache_key``, ``parallel_tool_calls``, ``metadata``, ``user``, ``timeout``,
        ``extra_headers``, ``extra_body``; other keywords are sent as body fields.
        """
        response: ResponseResponse = await self._api_answer(_RESPONSES, model, input, params)
        return response

    def acreate_response_stream(
        self,
        model: str,
        input: str | Iterable[Any],  # noqa: A002
        **params: Any,
    ) -> AsyncIterator[ResponseChunk]:
        """Stream a Responses-API answer as :class:`ResponseChunk` events (same parameters)."""
        return self._api_stream(_RESPONSES, model, input, params)

    # -- text completions -----------------------------------------------------------------

    async def acomplete(
        self, model: str, prompt: str | Sequence[str], **params: Any
    ) -> CompletionResponse:
        """Complete ``prompt`` with a legacy text-completion model (``/v1/completions``).

        ``params``: ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``n``,
        ``suffix``, ``echo``, ``logprobs``, ``presence_penalty``, ``frequency_penalty``,
        ``user``, ``timeout``, ``extra_headers``, ``extra_body``.
        """
        response: CompletionResponse = await self._api_answer(_COMPLETIONS, model, prompt, params)
        return response

    def acomplete_stream(
        self, model: str, prompt: str | Sequence[str], **params: Any
    ) -> AsyncIterator[CompletionChunk]:
        """Stream a text completion as :class:`CompletionChunk` items (same parameters)."""
        return self._api_stream(_COMPLETIONS, model, prompt, params)

    # -- transcription --------------------------------------------------------------------

    async def atranscribe(self, model: str, audio: Any, **params: Any) -> TranscriptionResponse:
        """Transcribe ``audio``: bytes, a path, or a binary file object.

        ``params``: ``filename`` (the upload's name; from the path or file object when not
        given), ``language``, ``prompt``, ``response_format``, ``temperature``,
        ``timestamp_granularities``, ``timeout``, ``extra_headers``, ``extra_body``.
        """
        response: TranscriptionResponse = await self._api_answer(
            _TRANSCRIPTION, model, audio, params
        )
        return response

    def atranscribe_stream(
        self, model: str, audio: Any, **params: Any
    ) -> AsyncIterator[TranscriptionChunk]:
        """Stream a transcription as :class:`TranscriptionChunk` items (same parameters)."""
        return self._api_stream(_TRANSCRIPTION, model, audio, params)

    # -- sync twins -----------------------------------------------------------------------

    def create_response(
        self,
        model: str,
        input: str | Iterable[Any],  # noqa: A002
        **params: Any,
    ) -> ResponseResponse:
        """Sync :meth:`acreate_response`."""
        return self._runner.run(lambda: self.acreate_response(model, input, **params))

    def create_response_stream(
        self,
        model: str,
        input: str | Iterable[Any],  # noqa: A002
        **params: Any,
    ) -> Iterator[ResponseChunk]:
        """Sync :meth:`acreate_response_stream`; leaving the loop early releases the connection."""
        return self._runner.iterate(lambda: self.acreate_response_stream(model, input, **params))

    def complete(
        self, model: str, prompt: str | Sequence[str], **params: Any
    ) -> CompletionResponse:
        """Sync :meth:`acomplete`."""
        return self._runner.run(lambda: self.acomplete(model, prompt, **params))

    def complete_stream(
        self, model: str, prompt: str | Sequence[str], **params: Any
    ) -> Iterator[CompletionChunk]:
        """Sync :meth:`acomplete_stream`."""
        return self._runner.iterate(lambda: self.acomplete_stream(model, prompt, **params))

    def transcribe(self, model: str, audio: Any, **params: Any) -> TranscriptionResponse:
        """Sync :meth:`atranscribe`."""
        return self._runner.run(lambda: self.atranscribe(model, audio, **params))

    def transcribe_stream(
        self, model: str, audio: Any, **params: Any
    ) -> Iterator[TranscriptionChunk]:
        """Sync :meth:`atranscribe_stream`."""
        return self._runner.iterate(lambda: self.atranscribe_stream(model, audio, **params))
