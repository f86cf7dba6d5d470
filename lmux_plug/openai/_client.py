"""``OpenAI`` / ``AsyncOpenAI``: the ``openai`` package's call shapes over lmux-plug.

``client.chat.completions.create(...)``, ``client.embeddings.create(...)`` and
``client.models.list()`` take OpenAI's arguments and return objects shaped like the
``openai`` package's (:mod:`lmux_plug.openai.types`), while the call goes through the
lmux-plug registry (or router) to any provider: ``model="anthropic/claude-..."``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Concatenate
from typing import Generic
from typing import Literal
from typing import ParamSpec
from typing import TypeVar
from typing import overload

from lmux_plug._aclose import aclose_if_any
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.openai._apis import AsyncAudio
from lmux_plug.openai._apis import AsyncResponses
from lmux_plug.openai._apis import AsyncTextCompletions
from lmux_plug.openai._apis import Audio
from lmux_plug.openai._apis import Responses
from lmux_plug.openai._apis import TextCompletions
from lmux_plug.openai._apis import called
from lmux_plug.openai._apis import run_bound
from lmux_plug.openai._backend import Backend
from lmux_plug.openai._backend import PrimedStream
from lmux_plug.openai._backend import is_empty
from lmux_plug.openai._errors import translated
from lmux_plug.openai._fields import ChatCreateArguments
from lmux_plug.openai._fields import ChatOptions
from lmux_plug.openai._fields import check_chat_fields
from lmux_plug.openai._fields import check_client_options
from lmux_plug.openai._fields import check_client_values
from lmux_plug.openai._fields import check_embed_fields
from lmux_plug.openai._wire import ChunkWriter
from lmux_plug.openai._wire import chat_params
from lmux_plug.openai._wire import completion_dict
from lmux_plug.openai._wire import embedding_dict
from lmux_plug.openai.types import ChatCompletion
from lmux_plug.openai.types import ChatCompletionChunk
from lmux_plug.openai.types import CreateEmbeddingResponse
from lmux_plug.openai.types import Model
from lmux_plug.openai.types import ModelList
from lmux_plug.params import InvalidParameterError
from lmux_plug.params import did_you_mean

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug.client import Client
    from lmux_plug.client import RoutingClient

__all__ = ["AsyncOpenAI", "AsyncStream", "OpenAI", "Stream"]


# --------------------------------------------------------------------------- streams


class AsyncStream:
    """Async iterator of :class:`ChatCompletionChunk` (``async for chunk in stream``)."""

    def __init__(self, primed: PrimedStream, writer: ChunkWriter) -> None:
        self._primed = primed
        self._writer = writer
        self._chunks = self._generate()

    async def _generate(self) -> AsyncGenerator[ChatCompletionChunk, None]:
        writer = self._writer
        async for chunk in self._primed:
            if is_empty(chunk):
                continue
            data = writer.feed(chunk)
            if data is not None:
                yield ChatCompletionChunk.from_dict(data, lmux_chunk=chunk)
        final = writer.finish()
        if final is not None:
            yield ChatCompletionChunk.from_dict(final)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return await self._chunks.__anext__()
        except LmuxError as exc:
            raise translated(exc) from exc.__cause__

    async def close(self) -> None:
        """Stop early and release the connection."""
        await self._chunks.aclose()
        await self._primed.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Stream:
    """Sync iterator of :class:`ChatCompletionChunk`; runs on the registry's managed loop."""

    def __init__(self, backend: Backend, stream: AsyncStream) -> None:
        self._backend = backend
        self._stream = stream
        self._done = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopIteration
        try:
            return self._backend.run(self._stream.__anext__)
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop early and release the connection."""
        if not self._done:
            self._done = True
            self._backend.run(self._stream.close)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- async resources

_C = TypeVar("_C")
_Completions = TypeVar("_Completions")


class _Resource(Generic[_C]):
    """A ``client.<resource>`` object (sync or async): it calls through its client."""

    def __init__(self, client: _C) -> None:
        self._client = client


class _Chat(Generic[_Completions]):
    """``client.chat``: only a namespace for ``completions`` (sync or async)."""

    def __init__(self, completions: _Completions) -> None:
        self.completions = completions


def _texts(value: object, model: str) -> str | list[str]:
    """The ``input`` of an embedding call: a string or a list of strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        return list(value)
    msg = "input must be a string or a list of strings (token arrays are not supported)"
    raise InvalidRequestError(msg, model=model)


def _check_messages(messages: object) -> None:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Iterable):
        msg = "messages must be a list of message dicts"
        raise InvalidRequestError(msg)


class AsyncCompletions(_Resource["AsyncOpenAI"]):
    """``client.chat.completions``."""

    @overload
    async def create(
        self, *, stream: Literal[False] = False, **arguments: Unpack[ChatCreateArguments]
    ) -> ChatCompletion: ...
    @overload
    async def create(
        self, *, stream: Literal[True], **arguments: Unpack[ChatCreateArguments]
    ) -> AsyncStream: ...
    @overload
    async def create(
        self, *, stream: bool, **arguments: Unpack[ChatCreateArguments]
    ) -> ChatCompletion | AsyncStream: ...
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        **options: Unpack[ChatOptions],
    ) -> ChatCompletion | AsyncStream:
        """Create a chat completion (``stream=True``: an :class:`AsyncStream` of chunks).

        Takes OpenAI's fields (``tools``, ``tool_choice``, ``response_format``,
        ``temperature``, ``max_tokens`` ...) plus muxi-llm's ``fallback_models`` and
        ``retries``. ``messages`` may hold dicts, lmux-plug messages and the message objects
        of an earlier answer (anything with ``model_dump()``). Errors are the ``openai``
        package's classes (:mod:`lmux_plug.openai`), which are lmux-plug errors too.
        """
        client = self._client
        backend = client.backend
        # What is left in ``options`` after the client's own keywords are body fields.
        stream_options = options.pop("stream_options", None)
        fallback_models = options.pop("fallback_models", None)
        retries = options.pop("retries", None)
        timeout = options.pop("timeout", None)
        extra_headers = options.pop("extra_headers", None)
        extra_body = options.pop("extra_body", None)
        fields: Mapping[str, Any] = options
        if retries is None:
            retries = client.max_retries
        try:
            check_chat_fields(fields, model=model, stream=stream, stream_options=stream_options)
            _check_messages(messages)
            name = backend.model_name(model)
            params = chat_params(fields)
            if extra_body:
                params["extra_body"] = {**params.get("extra_body", {}), **extra_body}
            params.update(client.call_options(timeout, extra_headers))
            if stream:
                primed = await backend.achat_stream(
                    name, list(messages), fallback_models=fallback_models, retries=retries, **params
                )
            else:
                response, used = await backend.achat(
                    name, list(messages), fallback_models=fallback_models, retries=retries, **params
                )
        except LmuxError as exc:
            raise translated(exc) from exc.__cause__
        if not stream:
            return ChatCompletion.from_dict(
                completion_dict(response, model=used), lmux_response=response
            )
        include_usage = bool((stream_options or {}).get("include_usage"))
        return AsyncStream(primed, ChunkWriter(primed.model, include_usage=include_usage))


class AsyncEmbeddings(_Resource["AsyncOpenAI"]):
    """``client.embeddings``."""

    async def create(
        self,
        /,
        *,
        model: str,
        input: str | Sequence[str],  # noqa: A002 - OpenAI's parameter name
        dimensions: int | None = None,
        encoding_format: str | None = None,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        user: str | None = None,  # noqa: ARG002 - accepted for compatibility, not sent
        **fields: Any,
    ) -> CreateEmbeddingResponse:
        """Embed a text or a list of texts (``encoding_format="base64"`` is decoded here).

        A keyword the ``openai`` package does not take either is a ``BadRequestError``
        with a did-you-mean (``dimensoins=3``); provider fields go in ``extra_body``.
        """
        # ``encoding_format``: vectors are returned as floats whatever the format asked; the
        # SDK decodes base64 into floats too, so callers see the same thing.
        client = self._client
        backend = client.backend
        if retries is None:
            retries = client.max_retries
        try:
            check_embed_fields(fields, model=model)
            if encoding_format is not None and encoding_format not in ("float", "base64"):
                msg = f"expected 'float' or 'base64', got {encoding_format!r}"
                raise InvalidParameterError("encoding_format", msg)
            name = backend.model_name(model)
            inputs = _texts(input, name)
            params = client.call_options(timeout, extra_headers)
            if dimensions is not None:
                params["dimensions"] = dimensions
            if extra_body:
                params["extra_body"] = dict(extra_body)
            response, used = await backend.aembed(
                name, inputs, fallback_models=fallback_models, retries=retries, **params
            )
        except LmuxError as exc:
            raise translated(exc) from exc.__cause__
        return CreateEmbeddingResponse.from_dict(
            embedding_dict(response, model=used), lmux_response=response
        )


class AsyncModels(_Resource["AsyncOpenAI"]):
    """``client.models``."""

    async def list(self) -> ModelList:
        """Every model the registry declares (``"prefix/model"``) and the router's names."""
        return _model_list(self._client.backend)

    async def retrieve(self, model: str) -> Model:
        """One model of :meth:`list`; ``NotFoundError`` for any other id."""
        return _model(self._client.backend, model)


def _model_list(backend: Backend) -> ModelList:
    return ModelList(data=[Model(id=i, owned_by=o) for i, o in backend.models()])


def _model(backend: Backend, model: str) -> Model:
    # ``client.models.retrieve(id)`` as the openai package has it: the model, or a 404
    # (``openai.NotFoundError``) with a did-you-mean among the listed ids.
    models = dict(backend.models())
    if model in models:
        return Model(id=model, owned_by=models[model])
    msg = f"model {model!r} is not one of client.models.list(){did_you_mean(model, list(models))}"
    raise translated(NotFoundError(msg, model=model, status_code=404))


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        registry: Client | None = None,
        router: RoutingClient | None = None,
        default_provider: str = "openai",
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        **_ignored: Any,
    ) -> None:
        # Options of the openai package this client has no use for (organization,
        # http_client, ...) are accepted and ignored, so constructor calls port unchanged;
        # a misspelt one (max_retires=) is refused rather than silently ignored.
        check_client_options(type(self).__name__, _ignored)
        check_client_values(
            type(self).__name__,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            default_provider=default_provider,
        )
        if router is not None and (api_key is not None or base_url is not None):
            given = " and ".join(
                name for name, value in (("api_key", api_key), ("base_url", base_url)) if value
            )
            msg = (
                f"{type(self).__name__}(router=..., {given}=...): a router calls its own "
                "deployments, each with the key and base URL of its config; drop "
                f"{given}, or pass registry= instead of router= for one provider"
            )
            raise ConfigurationError(msg)
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "registry": registry,
            "router": router,
            "default_provider": default_provider,
            "timeout": timeout,
            "max_retries": max_retries,
            "default_headers": default_headers,
        }
        self.backend = Backend(router=router, registry=registry, default_provider=default_provider)
        # Kept private and out of repr: the key goes to the provider only as a call option.
        self._api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.default_headers = dict(default_headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r})"

    @property
    def api_key(self) -> str | None:
        """The ``api_key`` given to the constructor, as ``openai.OpenAI.api_key`` (not in repr)."""
        return self._api_key

    def with_options(self, **options: Any) -> Any:
        """A copy of this client with some options changed (``timeout``, ``max_retries`` ...)."""
        return type(self)(**{**self._options, **options})

    copy = with_options

    def call_options(
        self, timeout: float | None, extra_headers: Mapping[str, str] | None
    ) -> dict[str, Any]:
        """Per-call keywords: timeout, headers, and the explicit key / base URL if set."""
        options: dict[str, Any] = {}
        if timeout is not None or self.timeout is not None:
            options["timeout"] = timeout if timeout is not None else self.timeout
        headers = {**self.default_headers, **(extra_headers or {})}
        if headers:
            options["extra_headers"] = headers
        if self._api_key is not None:
            options["api_key"] = self._api_key
        if self.base_url is not None:
            options["base_url"] = self.base_url
        return options


class AsyncOpenAI(_Base):
    """Async drop-in for ``openai.AsyncOpenAI`` that calls any provider through lmux-plug.

    :param registry: the :class:`~lmux_plug.Registry` to use (default: the process-wide one).
    :param router: a router (anything with ``achat`` / ``achat_stream`` / ``aembed``);
        when given, calls go through it and it owns retries and fallbacks.
    :param default_provider: the prefix of bare model names (``"gpt-4o"``).
    :param api_key: / :param base_url: sent with every call (for one-provider use).
    :param max_retries: default ``retries`` when a call gives none (default 0; a router
        has its own policy).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.chat = _Chat(AsyncCompletions(self))
        self.embeddings = AsyncEmbeddings(self)
        self.models = AsyncModels(self)
        # The Responses API, legacy text completions and audio transcription.
        self.responses = AsyncResponses(self)
        self.completions = AsyncTextCompletions(self)
        self.audio = AsyncAudio(self)

    async def close(self) -> None:
        """Release connections opened on the running loop."""
        for owner in {id(o): o for o in (self.backend.target, self.backend.registry)}.values():
            await aclose_if_any(owner)

    async def __aenter__(self) -> AsyncOpenAI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --------------------------------------------------------------------------- sync

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _sync_of(
    method: Callable[Concatenate[Any, _P], Awaitable[_R]],  # noqa: ARG001 - its type is used
) -> Callable[[Callable[..., Any]], Callable[Concatenate[Any, _P], _R]]:
    """Type a sync twin with the signature of its async ``method`` (written once, there)."""

    def typed(sync: Callable[..., Any]) -> Callable[Concatenate[Any, _P], _R]:
        return sync

    return typed


class Completions(_Resource["OpenAI"]):
    """``client.chat.completions`` (sync)."""

    @overload
    def create(
        self, *, stream: Literal[False] = False, **arguments: Unpack[ChatCreateArguments]
    ) -> ChatCompletion: ...
    @overload
    def create(
        self, *, stream: Literal[True], **arguments: Unpack[ChatCreateArguments]
    ) -> Stream: ...
    @overload
    def create(
        self, *, stream: bool, **arguments: Unpack[ChatCreateArguments]
    ) -> ChatCompletion | Stream: ...
    def create(self, **arguments: Any) -> ChatCompletion | Stream:
        """Sync :meth:`AsyncCompletions.create` (``stream=True``: a :class:`Stream`)."""
        client = self._client
        bound = called(client.async_client.chat.completions.create, "Completions.create", arguments)
        result: ChatCompletion | AsyncStream = run_bound(client.backend, bound)
        if isinstance(result, AsyncStream):
            return Stream(client.backend, result)
        return result


class Embeddings(_Resource["OpenAI"]):
    """``client.embeddings`` (sync)."""

    @_sync_of(AsyncEmbeddings.create)
    def create(self, **arguments: Any) -> Any:
        """Sync :meth:`AsyncEmbeddings.create` (the same keywords, typed as there)."""
        client = self._client
        bound = called(client.async_client.embeddings.create, "Embeddings.create", arguments)
        return run_bound(client.backend, bound)


class Models(_Resource["OpenAI"]):
    """``client.models`` (sync)."""

    def list(self) -> ModelList:
        """Every model the registry declares and the router's names."""
        return _model_list(self._client.backend)

    def retrieve(self, model: str) -> Model:
        """One model of :meth:`list`; ``NotFoundError`` for any other id."""
        return _model(self._client.backend, model)


class OpenAI(_Base):
    """Sync drop-in for ``openai.OpenAI``; same options as :class:`AsyncOpenAI`.

    Works in scripts, threads and notebooks (the registry's managed loops).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.async_client = AsyncOpenAI(**options)
        self.async_client.backend = self.backend
        self.chat = _Chat(Completions(self))
        self.embeddings = Embeddings(self)
        self.models = Models(self)
        self.responses = Responses(self)
        self.completions = TextCompletions(self)
        self.audio = Audio(self)

    def close(self) -> None:
        """Release every connection the sync API opened."""
        close = getattr(self.backend.registry, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
