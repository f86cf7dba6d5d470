"""``client.responses``, ``client.completions`` and ``client.audio.transcriptions`` of the drop-in.

Each ``create`` takes the ``openai`` package's arguments and returns an object shaped like
its answer (attribute access, ``model_dump()``), built from the same wire dicts the gateway
sends (:mod:`lmux_plug._api_wire`); ``stream=True`` returns an (async) iterator of events.
The lmux-plug answer stays reachable as ``lmux_response`` (cost, provider, headers).
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug._aclose import aclose_if_any
from lmux_plug._api_wire import ResponseEventWriter
from lmux_plug._api_wire import completion_chunk_dict
from lmux_plug._api_wire import completion_dict
from lmux_plug._api_wire import primed
from lmux_plug._api_wire import response_dict
from lmux_plug._api_wire import transcription_body
from lmux_plug.errors import LmuxError
from lmux_plug.openai._errors import translated

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from collections.abc import Callable
    from collections.abc import Coroutine

    from lmux_plug.openai._backend import Backend
    from lmux_plug.openai._client import AsyncOpenAI
    from lmux_plug.openai._client import OpenAI

__all__ = [
    "ApiObject",
    "AsyncApiStream",
    "AsyncAudio",
    "AsyncResponses",
    "AsyncTextCompletions",
    "Audio",
    "Responses",
    "TextCompletions",
]

_ids = itertools.count(1)
_T = TypeVar("_T")


async def _translating(awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable``; an error leaves as the ``openai``-named class (still an LmuxError)."""
    try:
        return await awaitable
    except LmuxError as exc:
        raise translated(exc) from exc.__cause__


def called(
    method: Callable[..., Coroutine[Any, Any, _T]], name: str, arguments: Mapping[str, Any]
) -> Coroutine[Any, Any, _T]:
    """``method(**arguments)``, a wrong argument reported as a call of ``name``.

    Calling an ``async def`` only binds its arguments (its body has not started), so a
    ``TypeError`` here is about the call itself; it names the method the user called
    (``Completions.create``), not the async core that method delegates to.
    """
    try:
        return method(**arguments)
    except TypeError as exc:
        message = str(exc).replace(f"{method.__qualname__}(", f"{name}(", 1)
        raise TypeError(message) from None


def run_bound(
    backend: Backend, coroutine: Coroutine[Any, Any, Any], *, translate: bool = False
) -> Any:
    """Run ``coroutine`` (bound by :func:`called` in the caller's thread) on the loop.

    This is how a sync twin calls its async core: binding before the hop to the registry's
    loop makes a missing or misspelt argument a ``TypeError`` raised in the caller's frame
    and naming the sync method. ``translate``: errors as the ``openai``-named classes.
    """
    try:
        return backend.run(lambda: _translating(coroutine) if translate else coroutine)
    finally:
        # Only when the loop never started it (a closed registry): avoids "never awaited".
        if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
            coroutine.close()


class ApiObject:
    """An OpenAI answer object: attribute access to its wire fields, ``model_dump()``."""

    def __init__(self, data: Mapping[str, Any], *, lmux_response: Any = None) -> None:
        self._data = dict(data)
        self.lmux_response = lmux_response

    def __getattr__(self, name: str) -> Any:
        try:
            value = self.__dict__["_data"][name]
        except KeyError:
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(msg) from None
        return _wrap(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiObject) and other._data == self._data

    def __hash__(self) -> int:
        return hash(json.dumps(self._data, sort_keys=True, default=str))

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The wire dict (``exclude_none`` drops ``None`` values at the top level)."""
        if exclude_none:
            return {k: v for k, v in self._data.items() if v is not None}
        return dict(self._data)

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The wire JSON."""
        return json.dumps(self._data, indent=indent)

    to_dict = model_dump


class Response(ApiObject):
    """A Responses ``response``; ``output_text`` joins the text of its messages (as openai's)."""

    @property
    def output_text(self) -> str:
        """Every ``output_text`` part of every message item, concatenated."""
        return "".join(
            part.get("text", "")
            for item in self._data.get("output") or ()
            if item.get("type") == "message"
            for part in item.get("content") or ()
            if part.get("type") == "output_text"
        )


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ApiObject(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class AsyncApiStream:
    """Async iterator of event objects; ``close()`` releases the connection early."""

    def __init__(self, events: AsyncIterator[ApiObject]) -> None:
        self._events = events

    def __aiter__(self) -> AsyncApiStream:
        return self

    async def __anext__(self) -> ApiObject:
        result: ApiObject = await _translating(self._events.__anext__())
        return result

    async def close(self) -> None:
        """Stop early and release the connection."""
        await aclose_if_any(self._events)

    aclose = close

    async def __aenter__(self) -> AsyncApiStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _target(backend: Backend, method: str) -> Any:
    """The router's method when it has one, else the registry's."""
    found = getattr(backend.target, method, None)
    return found if found is not None else getattr(backend.registry, method)


class _AsyncResource:
    """One ``client.<resource>``: ``create`` runs the subclass's ``_create``.

    Besides the arguments its ``_create`` names, every ``create`` takes the ``openai``
    package's ``timeout``, ``extra_headers`` and ``extra_body``, and passes any other
    field on to the library call.
    """

    # The subclass's keyword-only signature is the resource's API (documented there).
    _create: Callable[..., Coroutine[Any, Any, Any]]
    #: The library's method (``acomplete``); ``stream=True`` calls ``<method>_stream``.
    _method: str

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def create(self, **arguments: Any) -> Any:
        """See ``_create``; errors are raised as the ``openai``-named classes."""
        return await _translating(self.bind(f"{type(self).__name__}.create", arguments))

    def bind(self, name: str, arguments: Mapping[str, Any]) -> Coroutine[Any, Any, Any]:
        """``_create(**arguments)`` bound now; a wrong argument is reported as ``name``'s."""
        return called(self._create, name, arguments)

    async def _call(self, model: str, subject: Any, stream: bool, fields: dict[str, Any]) -> Any:
        """Call the library on ``subject``: :meth:`_answer`, or a stream of :meth:`_events`."""
        client = self._client
        backend = client.backend
        name = backend.model_name(model)
        timeout = fields.pop("timeout", None)
        options = client.call_options(timeout, fields.pop("extra_headers", None))
        extra_body = fields.pop("extra_body", None)
        if extra_body:
            options["extra_body"] = dict(extra_body)
        params = {k: v for k, v in fields.items() if v is not None}
        params.update(options)
        if not stream:
            answer = await _target(backend, self._method)(name, subject, **params)
            return self._answer(answer, name, params)
        started = await primed(_target(backend, f"{self._method}_stream")(name, subject, **params))
        return AsyncApiStream(_closing(self._events(started, name), started))

    def _answer(self, answer: Any, name: str, params: dict[str, Any]) -> Any:
        """The ``openai``-shaped object of a whole answer."""
        raise NotImplementedError

    def _events(self, chunks: AsyncIterator[Any], name: str) -> AsyncIterator[ApiObject]:
        """The ``openai``-shaped events of a stream of chunks."""
        raise NotImplementedError


# --------------------------------------------------------------------------- Responses


class AsyncResponses(_AsyncResource):
    """``client.responses``."""

    _method = "acreate_response"

    async def _create(
        self,
        *,
        model: str,
        input: Any,  # noqa: A002 - OpenAI's parameter name
        stream: bool = False,
        **fields: Any,
    ) -> Any:
        """Create a response (``stream=True``: an :class:`AsyncApiStream` of events)."""
        return await self._call(model, input, stream, fields)

    def _answer(self, answer: Any, name: str, params: dict[str, Any]) -> Any:  # noqa: ARG002 - the hook's signature
        return Response(response_dict(answer, model=name), lmux_response=answer)

    async def _events(self, chunks: AsyncIterator[Any], name: str) -> AsyncIterator[ApiObject]:
        writer = ResponseEventWriter(name)
        async for chunk in chunks:
            data = writer.feed(chunk)
            if chunk.response is not None:
                final = Response(data["response"], lmux_response=chunk.response)
                yield ApiObject({**data, "response": final})
            else:
                yield ApiObject(data, lmux_response=chunk)


async def _closing(events: AsyncIterator[Any], source: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Relay ``events``; closing this closes ``source`` (and its connection) too."""
    try:
        async for event in events:
            yield event
    finally:
        await aclose_if_any(source)


# --------------------------------------------------------------------------- completions


class AsyncTextCompletions(_AsyncResource):
    """``client.completions`` (legacy text completions)."""

    _method = "acomplete"

    async def _create(
        self,
        *,
        model: str,
        prompt: Any,
        stream: bool = False,
        stream_options: Mapping[str, Any] | None = None,  # noqa: ARG002 - usage always comes
        **fields: Any,
    ) -> Any:
        """Create a completion (``stream=True``: an :class:`AsyncApiStream` of chunks)."""
        return await self._call(model, prompt, stream, fields)

    def _answer(self, answer: Any, name: str, params: dict[str, Any]) -> Any:  # noqa: ARG002 - the hook's signature
        return ApiObject(completion_dict(answer, model=name), lmux_response=answer)

    def _events(self, chunks: AsyncIterator[Any], name: str) -> AsyncIterator[ApiObject]:
        chunk_id = f"cmpl-lmux-{next(_ids)}"

        async def events() -> AsyncIterator[ApiObject]:
            async for chunk in chunks:
                data = completion_chunk_dict(chunk, model=name, chunk_id=chunk_id)
                yield ApiObject(data, lmux_response=chunk)

        return events()


# --------------------------------------------------------------------------- transcription


class AsyncTranscriptions(_AsyncResource):
    """``client.audio.transcriptions``."""

    _method = "atranscribe"

    async def _create(
        self,
        *,
        model: str,
        file: Any,
        response_format: str | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> Any:
        """Transcribe ``file`` (bytes, a path, a binary file, or openai's ``(name, bytes)``).

        ``response_format="text"`` (and ``srt`` / ``vtt``) returns a ``str``, as openai's.
        """
        if isinstance(file, tuple) and len(file) >= 2:  # the openai package's (name, content)
            if fields.get("filename") is None:
                fields["filename"] = file[0]
            file = file[1]
        fields["response_format"] = response_format
        return await self._call(model, file, stream, fields)

    def _answer(self, answer: Any, name: str, params: dict[str, Any]) -> Any:  # noqa: ARG002 - the hook's signature
        body, _ = transcription_body(answer, params.get("response_format"))
        if isinstance(body, str):
            return body
        return ApiObject(body, lmux_response=answer)

    async def _events(self, chunks: AsyncIterator[Any], name: str) -> AsyncIterator[ApiObject]:  # noqa: ARG002 - the hook's signature
        async for chunk in chunks:
            data: dict[str, Any] = {"type": chunk.type}
            if chunk.type == "transcript.text.delta":
                data["delta"] = chunk.delta
            if chunk.response is not None:
                body, _ = transcription_body(chunk.response, "json")
                data.update(body if isinstance(body, dict) else {"text": body})
            yield ApiObject(data, lmux_response=chunk)


class AsyncAudio:
    """``client.audio``."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self.transcriptions = AsyncTranscriptions(client)


# --------------------------------------------------------------------------- sync


class _SyncCreate:
    def __init__(self, client: OpenAI, resource: Any) -> None:
        self._client = client
        self._resource = resource

    def create(self, **arguments: Any) -> Any:
        """Sync twin of the async ``create`` (``stream=True``: a sync iterator)."""
        from lmux_plug.openai._client import Stream  # noqa: PLC0415 - _client imports this module

        backend = self._client.backend
        # Bound here, so that a wrong argument names this class (``Responses.create``).
        bound = self._resource.bind(f"{type(self).__name__}.create", arguments)
        result = run_bound(backend, bound, translate=True)
        if isinstance(result, AsyncApiStream):
            return Stream(backend, result)  # type: ignore[arg-type] # same iterator protocol
        return result


class Responses(_SyncCreate):
    """``client.responses`` (sync)."""

    def __init__(self, client: OpenAI) -> None:
        super().__init__(client, client.async_client.responses)


class TextCompletions(_SyncCreate):
    """``client.completions`` (sync)."""

    def __init__(self, client: OpenAI) -> None:
        super().__init__(client, client.async_client.completions)


class Transcriptions(_SyncCreate):
    """``client.audio.transcriptions`` (sync)."""

    def __init__(self, client: OpenAI) -> None:
        super().__init__(client, client.async_client.audio.transcriptions)


class Audio:
    """``client.audio`` (sync)."""

    def __init__(self, client: OpenAI) -> None:
        self.transcriptions = Transcriptions(client)
