"""The batch engine: many calls through a bounded in-flight window.

Layers, bottom up:

* :func:`amap` runs an async function over any iterable or async iterable with at most
  ``max_parallel_requests`` items admitted and not yet delivered, and yields
  :class:`~lmux_plug.batch.Outcome` items (completion order, or input order with
  ``ordered=True`` through a reorder buffer that the same window bounds). Memory is
  proportional to the window, never to the input, which may be an endless iterator.
* :func:`aiter_generate` / :func:`aiter_embed` stream chat / embedding outcomes the same way.
* :func:`agenerate_batch` / :func:`aembed_batch` collect one slot per input into a
  :class:`~lmux_plug.batch.BatchResult` (which necessarily holds every result), with
  ``on_progress(done, total)`` and ``on_result(index, result, error)`` callbacks.
* :func:`generate_batch` / :func:`embed_batch` are the sync twins: they run on the client's
  managed loops (a plain script, a thread, or under a running loop such as Jupyter's), and
  Ctrl-C cancels the in-flight calls and raises :class:`BatchInterrupted` carrying what had
  finished.

The client is anything with ``achat`` / ``aembed`` coroutine methods (:class:`ChatClient`,
:class:`EmbedClient`): a :class:`~lmux_plug.Registry` or a router. ``client=None`` uses
:func:`lmux_plug.default_registry`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import itertools
import time
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from collections.abc import Sized
from typing import TYPE_CHECKING
from typing import Any
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

import attrs

from lmux_plug._sync import LoopRunner
from lmux_plug._types import ChatResponse
from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import Message
from lmux_plug._types import SystemMessage
from lmux_plug._types import Usage
from lmux_plug.batch.results import BatchResult
from lmux_plug.batch.results import EmbeddingResult
from lmux_plug.batch.results import GenerationResult
from lmux_plug.batch.results import Outcome
from lmux_plug.batch.structured import StructuredOutput
from lmux_plug.convert import to_messages
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError

if TYPE_CHECKING:
    from lmux_plug._pricing import Cost

__all__ = [
    "BatchInterrupted",
    "ChatClient",
    "EmbedClient",
    "ProgressCallback",
    "ResultCallback",
    "aembed_batch",
    "agenerate_batch",
    "aiter_embed",
    "aiter_generate",
    "amap",
    "embed_batch",
    "generate_batch",
]

T = TypeVar("T")
R = TypeVar("R")
_P = ParamSpec("_P")

DEFAULT_WINDOW = 64
DEFAULT_MICRO_BATCH = 64

ProgressCallback = Callable[[int, "int | None"], None]
ResultCallback = Callable[[int, Any, "BaseException | None"], None]
PromptLike = str | Sequence[Message | Mapping[str, Any]]


@runtime_checkable
class ChatClient(Protocol):
    """What the engine needs for chat: a :class:`~lmux_plug.Registry` or a router."""

    async def achat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Send one chat request."""
        ...


@runtime_checkable
class EmbedClient(Protocol):
    """What the engine needs for embeddings."""

    async def aembed(self, model: str, inputs: Any, **params: Any) -> EmbeddingResponse:
        """Embed a list of texts."""
        ...


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sync batch; ``result`` holds the items that had finished.

    Unfinished inputs have ``None`` in both ``result.results`` and ``result.errors``.
    It subclasses :class:`KeyboardInterrupt`, so code that does not look for it still stops.
    """

    def __init__(self, result: BatchResult[Any]) -> None:
        super().__init__(f"batch interrupted after {result.ok_count + result.error_count} items")
        self.result = result


# --------------------------------------------------------------------------- the window


class _Source:
    """Hands out ``(index, item)`` pairs from a sync or async iterable, one at a time."""

    def __init__(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        self._next_index = 0
        self._lock = asyncio.Lock()
        self._sync = iter(items) if not isinstance(items, AsyncIterable) else None
        self._async = aiter(items) if isinstance(items, AsyncIterable) else None
        self.exhausted = False

    async def take(self) -> tuple[int, Any] | None:
        if self._sync is not None:
            if self.exhausted:
                return None
            # A plain iterator needs no lock: next() cannot be interleaved with another task.
            try:
                item = next(self._sync)
            except StopIteration:
                self.exhausted = True
                return None
        else:
            assert self._async is not None  # noqa: S101 - one of the two is set
            async with self._lock:  # async generators refuse concurrent __anext__
                if self.exhausted:
                    return None
                try:
                    item = await anext(self._async)
                except StopAsyncIteration:
                    self.exhausted = True
                    return None
        index = self._next_index
        self._next_index += 1
        return index, item


def _check_call(
    model: object, inputs: object, client: object, params: dict[str, Any], kind: str
) -> None:
    """What is wrong for the whole batch raises at once, not once per item."""
    if not isinstance(model, str) or not model:
        msg = f"model must be a 'provider/model' string, got {model!r}"
        raise InvalidRequestError(msg)
    if isinstance(inputs, (str, bytes)):
        # A string is iterable: each character would be an input of its own.
        msg = (
            "inputs must be a list (or iterable) of inputs, got a string; "
            f"for one, pass [{inputs!r:.40}]"
        )
        raise InvalidRequestError(msg)
    from lmux_plug.registry import Registry  # noqa: PLC0415 - the facade imports this module

    if isinstance(client, Registry):  # a router or a custom client takes keywords of its own
        from lmux_plug.params import check_chat_params  # noqa: PLC0415
        from lmux_plug.params import check_embed_params  # noqa: PLC0415

        check = check_chat_params if kind == "chat" else check_embed_params
        check({k: v for k, v in params.items() if k not in ("api_key", "base_url")}, model=model)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InvalidRequestError(msg)


class _Slots:
    """A counting semaphore with O(1) release (asyncio's scans its waiters on every release)."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot straight to the next waiter
                return
        self._free += 1


class _Mailbox:
    """Many producers, one consumer; lighter than ``asyncio.Queue`` on the hot path."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


class _SourceFailed:
    """Queued when the user's input iterator itself raises: the whole batch stops."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def amap(
    fn: Callable[[int, T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    max_parallel_requests: int = DEFAULT_WINDOW,
    ordered: bool = False,
    return_exceptions: bool = True,
) -> AsyncIterator[Outcome]:
    """Run ``fn(index, item)`` over ``items``, yielding an :class:`Outcome` per item.

    At most ``max_parallel_requests`` items are admitted and not yet yielded: calls in
    flight plus, with ``ordered=True``, finished items waiting for an earlier one. So memory
    stays proportional to the window whatever the input length, and a consumer that stops
    pulling stops the calls too. ``fn`` raising an :class:`Exception` gives an outcome with
    ``error`` set; with ``return_exceptions=False`` the first error cancels the rest and is
    raised. Leaving the iteration early (``break``, an exception, cancellation) cancels the
    calls in flight; use ``contextlib.aclosing`` to make that immediate.
    """
    _check_positive("max_parallel_requests", max_parallel_requests)
    source = _Source(items)
    finished = _Mailbox()
    slots = _Slots(max_parallel_requests)
    stopping = False

    async def worker() -> None:
        try:
            while True:
                await slots.acquire()
                try:
                    taken = await source.take()
                except Exception as exc:  # noqa: BLE001 - the input itself failed
                    finished.put_nowait(_SourceFailed(exc))
                    return
                if taken is None:
                    slots.release()
                    return
                index, item = taken
                try:
                    value = await fn(index, item)
                except Exception as exc:  # noqa: BLE001 - a per-item failure is data
                    finished.put_nowait((index, None, exc))
                except asyncio.CancelledError as exc:
                    if stopping:
                        raise
                    # Cancelled from inside the call, not by us: that item failed, and it
                    # must still get its slot.
                    finished.put_nowait((index, None, exc))
                else:
                    finished.put_nowait((index, value, None))
        finally:
            finished.put_nowait(None)

    workers = [asyncio.ensure_future(worker()) for _ in range(max_parallel_requests)]
    running = len(workers)
    waiting: dict[int, tuple[Any, BaseException | None]] = {}
    next_index = 0
    try:
        while running:
            entry = await finished.get()
            if entry is None:
                running -= 1
                continue
            if isinstance(entry, _SourceFailed):
                raise entry.error
            index, value, error = entry
            if error is not None and not return_exceptions:
                raise error
            if not ordered:
                slots.release()
                yield Outcome(index, value, error)
                continue
            waiting[index] = (value, error)
            while next_index in waiting:
                value, error = waiting.pop(next_index)
                slots.release()
                yield Outcome(next_index, value, error)
                next_index += 1
    finally:
        stopping = True
        for task in workers:
            task.cancel()
        # Shielded so that a cancelled consumer still waits for its workers to wind down.
        await asyncio.shield(asyncio.gather(*workers, return_exceptions=True))


# --------------------------------------------------------------------------- chat


def _default_client() -> Any:
    import lmux_plug  # noqa: PLC0415 - the facade imports nothing from here

    return lmux_plug.default_registry()


def _as_messages(prompt: Any, system: str | None) -> Any:
    if isinstance(prompt, Mapping) and "messages" in prompt:
        prompt = prompt["messages"]
    elif isinstance(prompt, Mapping) and "prompt" in prompt:
        prompt = prompt["prompt"]
    if system is None:
        return prompt
    messages = to_messages(prompt)
    if messages and isinstance(messages[0], SystemMessage):
        return messages  # the item brings its own system message; it wins
    return [SystemMessage(system), *messages]


def _chat_call(
    client: Any,
    model: str,
    *,
    system: str | None,
    structured: StructuredOutput | None,
    keep_raw: bool,
    params: dict[str, Any],
) -> Callable[[int, Any], Awaitable[GenerationResult]]:
    achat = client.achat
    if structured is not None:
        params = {**params, "response_format": structured.response_format}
    clock = time.perf_counter

    async def call(_index: int, prompt: Any) -> GenerationResult:
        start = clock()
        response = await achat(model, _as_messages(prompt, system), **params)
        latency = clock() - start
        if not keep_raw and response.raw is not None:
            # The decoded wire body is a tree of containers; held for every item of a big
            # batch it makes each garbage collection slower (measured: half the throughput).
            response = attrs.evolve(response, raw=None)
        if structured is None:
            return GenerationResult(response, None, latency)
        parsed = structured.parse(
            response.content,
            provider=response.provider,
            model=response.model,
            request_id=response.request_id,
        )
        return GenerationResult(response, parsed, latency)

    return call


def aiter_generate(
    model: str,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    client: ChatClient | None = None,
    max_parallel_requests: int = DEFAULT_WINDOW,
    ordered: bool = False,
    return_exceptions: bool = True,
    response_format: Any = None,
    system: str | None = None,
    keep_raw: bool = True,
    **params: Any,
) -> AsyncIterator[Outcome]:
    """Stream :class:`Outcome` items (``result`` a :class:`GenerationResult`) for ``inputs``.

    Each input is a prompt string, a list of messages (typed or OpenAI-style dicts) or a
    mapping with ``messages`` or ``prompt``. Nothing is kept after an outcome is yielded,
    so this is the form for inputs of unknown or unbounded length. ``params`` go to
    ``client.achat`` (``temperature``, ``max_tokens``, ...). ``keep_raw=False`` drops each
    response's decoded wire body (``ChatResponse.raw``).
    """
    client = client if client is not None else _default_client()
    _check_call(model, inputs, client, params, "chat")
    structured = None if response_format is None else StructuredOutput.from_spec(response_format)
    call = _chat_call(
        client,
        model,
        system=system,
        structured=structured,
        keep_raw=keep_raw,
        params=params,
    )
    return amap(
        call,
        inputs,
        max_parallel_requests=max_parallel_requests,
        ordered=ordered,
        return_exceptions=return_exceptions,
    )


class _Collector:
    """Fills a :class:`BatchResult` from outcomes and runs the callbacks."""

    def __init__(
        self,
        total: int | None,
        on_progress: ProgressCallback | None,
        on_result: ResultCallback | None,
    ) -> None:
        self.total = total
        self.results: list[Any] = [None] * total if total is not None else []
        self.errors: list[BaseException | None] = [None] * total if total is not None else []
        self.usage = Usage()
        self.cost: Cost | None = None
        self.done = 0
        self.on_progress = on_progress
        self.on_result = on_result

    def _slot(self, index: int) -> None:
        while len(self.results) <= index:  # unknown length: grow as indices arrive
            self.results.append(None)
            self.errors.append(None)

    def add(self, outcome: Outcome, usage: Usage | None, cost: Cost | None) -> None:
        index, result, error = outcome
        self._slot(index)
        self.results[index] = result
        self.errors[index] = error
        if usage is not None:
            self.usage = self.usage + usage
        if cost is not None:
            self.cost = cost if self.cost is None else self.cost + cost
        self.done += 1
        if self.on_result is not None:
            self.on_result(index, result, error)
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    def result(self) -> BatchResult[Any]:
        return BatchResult(self.results, self.errors, self.usage, self.cost)


def _length(inputs: object) -> int | None:
    return len(inputs) if isinstance(inputs, Sized) else None


def _usage_and_cost(priced: Any) -> tuple[Usage | None, Cost | None]:
    """What one outcome adds to the batch's totals (nothing for a failure or a later text)."""
    return (None, None) if priced is None else (priced.usage, priced.cost)


async def _drain(stream: AsyncIterator[T], each: Callable[[T], object]) -> None:
    """Pass every item of ``stream`` to ``each``; the stream is closed however this ends."""
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for item in stream:
            each(item)


async def agenerate_batch(
    model: str,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    client: ChatClient | None = None,
    max_parallel_requests: int = DEFAULT_WINDOW,
    return_exceptions: bool = True,
    on_progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
    response_format: Any = None,
    system: str | None = None,
    keep_raw: bool = False,
    _collector: _Collector | None = None,
    **params: Any,
) -> BatchResult[GenerationResult]:
    """Chat over every input; one slot per input, in input order.

    Successes land in ``results``, failures in ``errors`` (``return_exceptions=True``);
    with ``return_exceptions=False`` the first failure cancels the rest and is raised.
    ``on_result(index, result, error)`` runs as each item finishes (completion order) and
    ``on_progress(done, total)`` after it (``total`` is ``None`` for iterators without a
    length). ``response_format`` (a class or a JSON schema, see
    :class:`~lmux_plug.batch.StructuredOutput`) fills ``output_parsed``; an answer that does
    not parse is an :class:`~lmux_plug.batch.OutputParseError` in ``errors``. Each kept
    response drops its decoded wire body (``ChatResponse.raw``) unless ``keep_raw=True``:
    held for every item, it slows the garbage collector down.
    """
    collector = _collector or _Collector(_length(inputs), on_progress, on_result)
    stream = aiter_generate(
        model,
        inputs,
        client=client,
        max_parallel_requests=max_parallel_requests,
        ordered=False,  # slots are filled by index, no need to hold finished items back
        return_exceptions=return_exceptions,
        response_format=response_format,
        system=system,
        keep_raw=keep_raw,
        **params,
    )
    await _drain(stream, lambda o: collector.add(o, *_usage_and_cost(o.result)))
    return collector.result()


# --------------------------------------------------------------------------- embeddings


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter), read one list at a time."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


async def _chunks(
    inputs: Iterable[str] | AsyncIterable[str], size: int
) -> AsyncIterator[list[str]]:
    if not isinstance(inputs, AsyncIterable):
        for chunk in _batched(inputs, size):
            yield chunk
        return
    chunk = []
    async for text in inputs:
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _ChunkFailed:
    """A micro-batch that failed: its error and how many texts it held."""

    def __init__(self, error: Exception, count: int) -> None:
        self.error = error
        self.count = count


def _embed_stream(
    model: str,
    inputs: Iterable[str] | AsyncIterable[str],
    *,
    client: EmbedClient | None,
    micro_batch_size: int,
    max_parallel_requests: int,
    ordered: bool,
    return_exceptions: bool,
    params: dict[str, Any],
) -> AsyncIterator[tuple[Outcome, EmbeddingResponse | None]]:
    """One ``(outcome, response)`` per text; ``response`` only on each call's first text."""
    _check_positive("micro_batch_size", micro_batch_size)
    client = client if client is not None else _default_client()
    _check_call(model, inputs, client, params, "embed")
    aembed = client.aembed
    clock = time.perf_counter

    async def call(_index: int, texts: list[str]) -> Any:
        start = clock()
        try:
            response: EmbeddingResponse = await aembed(model, texts, **params)
            if len(response.embeddings) != len(texts):
                msg = f"{len(texts)} texts sent but {len(response.embeddings)} vectors returned"
                raise LmuxError(msg, provider=response.provider, model=response.model)  # noqa: TRY301
        except Exception as exc:  # noqa: BLE001 - becomes one error per text of the chunk
            return _ChunkFailed(exc, len(texts))
        return response, clock() - start

    chunks = amap(
        call,
        _chunks(inputs, micro_batch_size),
        max_parallel_requests=max_parallel_requests,
        ordered=ordered,
    )
    return _fan_out(chunks, micro_batch_size, return_exceptions=return_exceptions)


async def _fan_out(
    chunks: AsyncIterator[Outcome], size: int, *, return_exceptions: bool
) -> AsyncIterator[tuple[Outcome, EmbeddingResponse | None]]:
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for chunk_index, value, _ in chunks:
            first = chunk_index * size
            if isinstance(value, _ChunkFailed):
                if not return_exceptions:
                    raise value.error
                for offset in range(value.count):
                    yield Outcome(first + offset, None, value.error), None
                continue
            response, latency = value
            head: EmbeddingResponse | None = response
            for offset, vector in enumerate(response.embeddings):
                result = EmbeddingResult(vector, response.model, response.provider, latency)
                yield Outcome(first + offset, result, None), head
                head = None


async def aiter_embed(
    model: str,
    inputs: Iterable[str] | AsyncIterable[str],
    *,
    client: EmbedClient | None = None,
    micro_batch_size: int = DEFAULT_MICRO_BATCH,
    max_parallel_requests: int = 8,
    ordered: bool = False,
    return_exceptions: bool = True,
    **params: Any,
) -> AsyncIterator[Outcome]:
    """Stream one :class:`Outcome` per input text (``result`` an :class:`EmbeddingResult`).

    Texts are sent ``micro_batch_size`` per request, at most ``max_parallel_requests``
    requests at a time; a failed request fails every text in it. ``params`` go to
    ``client.aembed`` (``dimensions``, ...).
    """
    stream = _embed_stream(
        model,
        inputs,
        client=client,
        micro_batch_size=micro_batch_size,
        max_parallel_requests=max_parallel_requests,
        ordered=ordered,
        return_exceptions=return_exceptions,
        params=params,
    )
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for outcome, _ in stream:
            yield outcome


async def aembed_batch(
    model: str,
    inputs: Iterable[str] | AsyncIterable[str],
    *,
    client: EmbedClient | None = None,
    micro_batch_size: int = DEFAULT_MICRO_BATCH,
    max_parallel_requests: int = 8,
    return_exceptions: bool = True,
    on_progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
    _collector: _Collector | None = None,
    **params: Any,
) -> BatchResult[EmbeddingResult]:
    """Embed every input text with micro-batching; one slot per input, in input order.

    ``usage`` and ``cost`` of the :class:`BatchResult` add up the micro-batch calls.
    Callbacks behave as in :func:`agenerate_batch`, once per text.
    """
    collector = _collector or _Collector(_length(inputs), on_progress, on_result)
    stream = _embed_stream(
        model,
        inputs,
        client=client,
        micro_batch_size=micro_batch_size,
        max_parallel_requests=max_parallel_requests,
        ordered=False,
        return_exceptions=return_exceptions,
        params=params,
    )
    await _drain(stream, lambda pair: collector.add(pair[0], *_usage_and_cost(pair[1])))
    return collector.result()


# --------------------------------------------------------------------------- sync twins


_FALLBACK_RUNNER = LoopRunner()


class _Run:
    """Remembers the task of a sync batch so Ctrl-C can cancel it from outside the loop."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None

    async def wrap(self, coro: Awaitable[T]) -> T:
        self.task = asyncio.current_task()
        return await coro


def _run_sync(client: Any, make: Callable[[], Awaitable[T]], collector: _Collector) -> T:
    run = _Run()
    # A registry runs sync work on its own managed loops (so its pools survive between
    # calls); a router does so through its registry; anything else gets ours.
    runner = getattr(client, "run_sync", None) or getattr(
        getattr(client, "registry", None), "run_sync", None
    )
    runner_fn: Callable[[Callable[[], Awaitable[Any]]], Any] = (
        runner if callable(runner) else _FALLBACK_RUNNER.run
    )
    try:
        return runner_fn(lambda: run.wrap(make()))  # type: ignore[no-any-return]
    except KeyboardInterrupt:
        _cancel(run.task)
        raise BatchInterrupted(collector.result()) from None


def _sync_batch(
    abatch: Callable[..., Awaitable[BatchResult[R]]],
    model: str,
    inputs: Iterable[Any],
    client: Any,
    callbacks: tuple[ProgressCallback | None, ResultCallback | None],
    **options: Any,
) -> BatchResult[R]:
    """The sync twin of ``abatch`` (an async batch function) over the same arguments.

    The collector is made here, outside the loop, so that Ctrl-C can still hand back what
    finished (:class:`BatchInterrupted`).
    """
    client = client if client is not None else _default_client()
    collector = _Collector(_length(inputs), *callbacks)
    return _run_sync(
        client,
        lambda: abatch(model, inputs, client=client, _collector=collector, **options),
        collector,
    )


def _cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel the batch task and wait (bounded) until its calls have wound down."""
    if task is None:
        return
    loop = task.get_loop()

    async def wait(tasks: list[asyncio.Task[Any]]) -> None:
        for each in tasks:
            each.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    if loop.is_running():
        # The loop runs in a background thread (the caller sits under a running loop);
        # signals reach only this thread, so the batch task itself is intact there.
        with contextlib.suppress(BaseException):
            asyncio.run_coroutine_threadsafe(wait([task]), loop).result(15)
    elif not loop.is_closed():
        # Ctrl-C surfaced out of run_until_complete. Cancelling the batch task lets the
        # window cancel its own workers; if Ctrl-C killed the batch task itself, every task
        # still pending on this private loop is one of its orphans.
        pending = (
            [task] if not task.done() else [t for t in asyncio.all_tasks(loop) if not t.done()]
        )
        with contextlib.suppress(BaseException):
            loop.run_until_complete(wait(pending))


def _sync_twin(
    abatch: Callable[_P, Awaitable[BatchResult[R]]], doc: str
) -> Callable[_P, BatchResult[R]]:
    """The sync twin of the async batch function ``abatch``: the same keywords and defaults.

    The keywords are written once, on ``abatch``; the twin takes them as they are and runs
    ``abatch`` through :func:`_sync_batch`. Its signature (what ``help()`` shows) is
    ``abatch``'s without the private collector.
    """

    def twin(
        model: str,
        inputs: Iterable[Any],
        *,
        client: Any = None,
        on_progress: ProgressCallback | None = None,
        on_result: ResultCallback | None = None,
        **options: Any,
    ) -> BatchResult[R]:
        return _sync_batch(abatch, model, inputs, client, (on_progress, on_result), **options)

    signature = inspect.signature(abatch)
    twin.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != "_collector"]
    )
    twin.__name__ = twin.__qualname__ = abatch.__name__.removeprefix("a")
    twin.__doc__ = doc
    return twin  # type: ignore[return-value] # it takes the keywords of abatch, as typed


generate_batch = _sync_twin(
    agenerate_batch,
    """Sync :func:`agenerate_batch`: in scripts, threads and under a running loop (Jupyter).

    Ctrl-C cancels the calls in flight and raises :class:`BatchInterrupted`, whose
    ``result`` keeps every item that had finished.
    """,
)
embed_batch = _sync_twin(
    aembed_batch,
    """Sync :func:`aembed_batch`, with the same Ctrl-C behaviour as :func:`generate_batch`.""",
)
