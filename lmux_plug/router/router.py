"""The :class:`Router`: logical models over deployments, with the resilience layer.

A call walks a *chain* of models (the requested one, then its fallbacks). For each model
it makes up to ``retries + 1`` attempts; each attempt picks a deployment (selection
strategy, primaries before the fallback tier, skipping open breakers, cooling-down
deployments and full quotas, waiting for capacity when every one is full), takes a key
from the deployment's pool, is admitted by the rate limiter, and calls the registry with
the deployment's ``api_key`` and ``base_url``. Every attempt is recorded on the answer
(``ChatResponse.attempts``) or on the final exception (``exc.attempts``).

This module is the facade. The work is done by :mod:`~lmux_plug.router.plan` (the config
snapshot prepared for calls), :mod:`~lmux_plug.router.admission` (admit and settle),
:mod:`~lmux_plug.router.attempts` (the attempt loop) and the resilience engine
(:mod:`lmux_plug.resilience`: the pure retry decision, backoff, timeouts, the clock).
"""

from __future__ import annotations

import os
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any

import attrs

from lmux_plug._evolve import evolve
from lmux_plug._types import ChatChunk, ChatResponse, EmbeddingResponse, Message, Usage
from lmux_plug.resilience.clock import SYSTEM_CLOCK, Clock
from lmux_plug.resilience.tokens import estimate_tokens
from lmux_plug.router.admission import Admission, Admitted
from lmux_plug.router.attempts import run_attempts
from lmux_plug.router.breaker import Breaker, BreakerState
from lmux_plug.router.cache import ResponseCache, request_key
from lmux_plug.router.config import (
    ConfigSource,
    Deployment,
    LogicalModel,
    RouterConfig,
    apply_preset,
)
from lmux_plug.router.degrade import DegradingBackend
from lmux_plug.router.plan import CallOptions, DeploymentRuntime, Plan
from lmux_plug.router.retry import Attempt
from lmux_plug.router.singleflight import SingleFlight
from lmux_plug.router.state import MemoryBackend, StateBackend
from lmux_plug.router.stats import StatsBook

if TYPE_CHECKING:
    from lmux_plug.registry import Registry

__all__ = ["Router"]

_Messages = Iterable[Message | Mapping[str, Any]] | str


_NO_HEADERS: Mapping[str, str] = {}


def _outcome(
    response: ChatResponse | EmbeddingResponse,
) -> tuple[Mapping[str, str], Usage, Any]:
    """What settling an answer needs: its headers, usage and cost."""
    return response.headers, response.usage, response.cost


def _stream_outcome(_: object) -> tuple[Mapping[str, str], None, None]:
    """A stream is settled at its first chunk: no headers or usage yet."""
    return _NO_HEADERS, None, None


class _Estimate:
    """The token estimate of a call, computed at most once and only if a bucket needs it."""

    __slots__ = ("_inputs", "_max_tokens", "_value")

    def __init__(self, inputs: Any, max_tokens: Any) -> None:
        self._inputs = inputs
        self._max_tokens = max_tokens
        self._value = -1

    def __call__(self) -> int:
        if self._value < 0:
            self._value = estimate_tokens(self._inputs, self._max_tokens)
        return self._value


class Router:
    """Route calls to logical models over pools of deployments, with retries and limits.

    ``models`` maps logical names to :class:`LogicalModel` or lists of deployments; or
    pass a whole :class:`RouterConfig` as ``config``, or a file as ``config_path`` (it is
    re-read when it changes; see :class:`ConfigSource`). ``registry`` defaults to every
    installed plugin; ``backend`` to an in-process :class:`MemoryBackend` (use
    :class:`~lmux_plug.router.state.RedisBackend` to share limits across processes; what
    happens when it is unreachable is ``RouterConfig.on_state_error``). ``clock`` is where
    every wait, window and timer reads time (default: the engine's system clock, which
    :func:`lmux_plug.resilience.set_testing` makes instant).
    """

    def __init__(
        self,
        models: Mapping[str, LogicalModel | Sequence[Deployment | str]] | None = None,
        *,
        registry: Registry | None = None,
        backend: StateBackend | None = None,
        config: RouterConfig | None = None,
        config_path: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if registry is None:
            from lmux_plug.registry import Registry  # noqa: PLC0415

            registry = Registry.from_entry_points()
        self.registry = registry
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.backend: StateBackend = backend or MemoryBackend(clock=self.clock)
        self._source = ConfigSource(config_path) if config_path is not None else None
        if config is None:
            config = self._source.current() if self._source else RouterConfig(models=models or {})
        elif models:
            config = attrs.evolve(config, models={**config.models, **models})
        # A shared backend goes through the degrade-or-fail policy of the config.
        self._state: StateBackend = self.backend
        if not isinstance(self.backend, MemoryBackend):
            self._state = DegradingBackend(
                self.backend, on_error=config.on_state_error, clock=self.clock
            )
        self.book = StatsBook()
        self._runtimes: dict[Deployment, DeploymentRuntime] = {}
        self._config = config
        self._plan = Plan(config, self._runtimes, self.book, self.clock)
        self._admission = Admission(
            self._state,
            self._make_breaker(config),
            self.book,
            self.clock,
            f"{os.getpid()}-{id(self):x}-",
        )
        self._admission.retry_after_cap = config.retry_after_cap
        shared = self._state if self._state is not self.backend else None
        self.cache = ResponseCache(shared, size=config.cache_size)
        self._flights: SingleFlight[ChatResponse] = SingleFlight()

    def __repr__(self) -> str:
        return f"Router(models={sorted(self._config.models)}, backend={self.backend!r})"

    def _make_breaker(self, config: RouterConfig) -> Breaker:
        return Breaker(
            self._state,
            threshold=config.breaker_threshold,
            cooldown=config.breaker_cooldown,
            max_cooldown=config.breaker_max_cooldown,
            probes=config.breaker_probes,
            clock=self.clock,
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def config(self) -> RouterConfig:
        """The snapshot new calls use."""
        return self._current().config

    def configure(self, config: RouterConfig) -> None:
        """Swap in a new snapshot: the next call uses it, calls in flight keep the old one."""
        self._config = config
        self._plan = Plan(config, self._runtimes, self.book, self.clock)
        self._admission.breaker = self._make_breaker(config)
        self._admission.retry_after_cap = config.retry_after_cap
        if isinstance(self._state, DegradingBackend):
            self._state.on_error = config.on_state_error

    def reload(self) -> bool:
        """Re-read ``config_path`` now; return whether a new valid snapshot was loaded."""
        if self._source is None:
            return False
        if self._source.reload():
            self.configure(self._source.current())
            return True
        return False

    def _current(self) -> Plan:
        if self._source is not None:
            config = self._source.current()
            if config is not self._config:
                self.configure(config)
        return self._plan

    # -- public API -----------------------------------------------------------------------

    async def achat(
        self,
        model: str,
        messages: _Messages,
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        sticky_key: str | None = None,
        cache: bool | None = None,
        cache_ttl: float | None = None,
        singleflight: bool | None = None,
        context_fallbacks: Sequence[str] | None = None,
        content_filter_fallback: bool | None = None,
        **params: Any,
    ) -> ChatResponse:
        """Send a chat request to a logical model (or ``provider/model``) through the router.

        ``fallback_models`` replaces the model's default chain; ``retries`` is the number
        of extra attempts per model; ``deadline`` bounds the whole call in seconds and
        ``attempt_timeout`` each attempt (a hung attempt is cut and retried elsewhere);
        ``sticky_key`` makes the deployment order deterministic for that key; ``cache``
        / ``cache_ttl`` use the response cache; ``singleflight`` shares one upstream call
        among identical concurrent calls (by default only for deterministic requests
        when enabled in the config). Other ``params`` go to the provider as with
        :meth:`Registry.achat`.
        """
        plan = self._plan if self._source is None else self._current()
        config = plan.config
        if model in plan.presets:
            messages, params = apply_preset(config, model, messages, params)
        options = CallOptions(
            config,
            self.clock.monotonic(),
            fallback_models,
            retries,
            deadline,
            attempt_timeout,
            sticky_key,
            context_fallbacks,
            content_filter_fallback,
        )
        ttl = cache_ttl if cache_ttl is not None else config.cache_ttl
        use_cache = bool(ttl) if cache is None else cache and ttl is not None
        share = singleflight
        if share is None:
            share = config.singleflight and _deterministic(params)
        if not use_cache and not share:
            response, attempts = await self._chat(plan, model, messages, options, params)
            return evolve(response, attempts=attempts)
        key = self._request_key("chat", model, messages, params)
        if use_cache:
            hit = await self.cache.get_response(key)
            if hit is not None:
                return hit

        async def fetch() -> ChatResponse:
            response, attempts = await self._chat(plan, model, messages, options, params)
            response = evolve(response, attempts=attempts)
            if use_cache and ttl:
                await self.cache.set_response(key, response, ttl)
            return response

        if share:
            response, _ = await self._flights.do(key, fetch)
            return response
        return await fetch()

    def _chat(
        self,
        plan: Plan,
        model: str,
        messages: _Messages,
        options: CallOptions,
        params: dict[str, Any],
    ) -> Coroutine[Any, Any, tuple[ChatResponse, tuple[Attempt, ...]]]:
        """The attempt loop of one chat call (a coroutine: awaited by the caller)."""
        registry = self.registry
        user_timeout = params.pop("timeout", None)

        def call(admitted: Admitted, remaining: float) -> Awaitable[ChatResponse]:
            deployment = admitted.runtime.deployment
            # The attempt loop enforces the deadline and the attempt timeout around this
            # call; a timeout is passed on only when the caller gave one.
            if user_timeout is not None:
                params["timeout"] = max(min(user_timeout, remaining), 0.001)
            return registry.achat(
                deployment.model,
                messages,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                **params,
            )

        return run_attempts(
            plan,
            self._admission,
            self.clock,
            model,
            options=options,
            tokens_estimate=_Estimate(messages, params.get("max_tokens")),
            call=call,
            outcome=_outcome,
        )

    async def aembed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        sticky_key: str | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embed through the router (selection, limits, retries and fallbacks as for chat)."""
        plan = self._current()
        options = CallOptions(
            plan.config,
            self.clock.monotonic(),
            fallback_models=fallback_models,
            retries=retries,
            deadline=deadline,
            sticky_key=sticky_key,
            attempt_timeout=attempt_timeout,
        )
        registry = self.registry
        user_timeout = params.pop("timeout", None)
        tokens = _Estimate(inputs, 0)

        def call(admitted: Admitted, remaining: float) -> Awaitable[EmbeddingResponse]:
            deployment = admitted.runtime.deployment
            if user_timeout is not None:
                params["timeout"] = max(min(user_timeout, remaining), 0.001)
            return registry.aembed(
                deployment.model,
                inputs,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                **params,
            )

        response, _ = await run_attempts(
            plan,
            self._admission,
            self.clock,
            model,
            options=options,
            tokens_estimate=tokens,
            call=call,
            outcome=_outcome,
        )
        return response

    async def achat_stream(
        self,
        model: str,
        messages: _Messages,
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        sticky_key: str | None = None,
        cache: bool | None = None,
        cache_ttl: float | None = None,
        context_fallbacks: Sequence[str] | None = None,
        content_filter_fallback: bool | None = None,
        **params: Any,
    ) -> AsyncIterator[ChatChunk]:
        """Stream through the router; retries happen only before the first chunk.

        Retries and fallbacks happen only before the first chunk reaches the caller;
        after that an error is raised as is.
        """
        plan = self._current()
        config = plan.config
        messages, params = apply_preset(config, model, messages, params)
        options = CallOptions(
            plan.config,
            self.clock.monotonic(),
            fallback_models=fallback_models,
            retries=retries,
            deadline=deadline,
            sticky_key=sticky_key,
            attempt_timeout=attempt_timeout,
            context_fallbacks=context_fallbacks,
            content_filter_fallback=content_filter_fallback,
        )
        ttl = cache_ttl if cache_ttl is not None else config.cache_ttl
        use_cache = bool(ttl) if cache is None else cache and ttl is not None
        key = ""
        if use_cache:
            key = self._request_key("stream", model, messages, params)
            cached = await self.cache.get_chunks(key)
            if cached is not None:
                for chunk in cached:
                    yield chunk
                return
        registry = self.registry
        user_timeout = params.pop("timeout", None)
        tokens = _Estimate(messages, params.get("max_tokens"))
        holder: dict[str, Any] = {}

        async def call(
            admitted: Admitted,
            _attempt_limit: float,  # enforced around the first chunk by the attempt loop
        ) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            deployment = admitted.runtime.deployment
            # The attempt timeout bounds the wait for the first chunk (the attempt loop
            # enforces it); the whole stream may take what is left of the call's deadline.
            left = options.deadline_at - self.clock.monotonic()
            timeout = left if user_timeout is None else min(user_timeout, left)
            iterator = registry.achat_stream(
                deployment.model,
                messages,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                timeout=max(timeout, 0.001),
                **params,
            )
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = ChatChunk(provider=deployment.model.partition("/")[0])
            except BaseException:
                await iterator.aclose()  # type: ignore[attr-defined]
                raise
            holder["admitted"] = admitted
            return first, iterator

        (first, iterator), _ = await run_attempts(
            plan,
            self._admission,
            self.clock,
            model,
            options=options,
            tokens_estimate=tokens,
            call=call,
            outcome=_stream_outcome,
        )
        admitted: Admitted = holder["admitted"]
        chunks: list[ChatChunk] = [first]
        complete = False
        try:
            yield first
            async for chunk in iterator:
                if use_cache:
                    chunks.append(chunk)
                if chunk.usage is not None:
                    admitted.runtime.stats.input_tokens += chunk.usage.input_tokens
                    admitted.runtime.stats.output_tokens += chunk.usage.output_tokens
                    if chunk.cost is not None:
                        admitted.runtime.stats.cost += chunk.cost.total
                    if admitted.tokens:
                        # Reconcile the token estimate (the request slots were already
                        # released at the first chunk; this only adjusts token buckets).
                        used = chunk.usage.input_tokens + chunk.usage.output_tokens
                        await self._state.release(
                            admitted.buckets, admitted.member, used - admitted.tokens
                        )
                yield chunk
            complete = True
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]
        if complete and use_cache and ttl:
            await self.cache.set_chunks(key, chunks, ttl)

    def _request_key(
        self, kind: str, model: str, messages: _Messages, params: Mapping[str, Any]
    ) -> str:
        request = self.registry.chat_request(model, messages, **params)
        return request_key(kind, model, request)

    # -- sync twins -----------------------------------------------------------------------

    def chat(self, model: str, messages: _Messages, **params: Any) -> ChatResponse:
        """Sync :meth:`achat` (runs on the registry's managed loop)."""
        result: ChatResponse = self.registry.run_sync(lambda: self.achat(model, messages, **params))
        return result

    def chat_stream(self, model: str, messages: _Messages, **params: Any) -> Iterator[ChatChunk]:
        """Sync :meth:`achat_stream`."""
        runner = self.registry._runner  # noqa: SLF001 - the registry's managed loops
        return runner.iterate(lambda: self.achat_stream(model, messages, **params))

    def embed(self, model: str, inputs: str | Sequence[str], **params: Any) -> EmbeddingResponse:
        """Sync :meth:`aembed`."""
        result: EmbeddingResponse = self.registry.run_sync(
            lambda: self.aembed(model, inputs, **params)
        )
        return result

    # -- stats and lifecycle ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters per deployment (and per key), with breaker states as last seen here."""
        out: dict[str, Any] = {
            "deployments": {},
            "cache": {"hits": self.cache.hits, "misses": self.cache.misses},
        }
        for runtime in {id(r): r for r in self._runtimes.values()}.values():
            entry = runtime.stats.as_dict()
            entry["breaker"] = {"state": self._admission.breaker_seen.get(runtime.id, "closed")}
            entry["limits"] = runtime.tracker.describe()
            keys: dict[str, Any] = {}
            if runtime.keys is not None:
                for fp in runtime.keys.fingerprints:
                    key_entry = self.book.key(runtime.id, fp).as_dict()
                    key_entry["evicted"] = fp in runtime.keys.dead
                    keys[fp] = key_entry
            entry["keys"] = keys
            out["deployments"][runtime.id] = entry
        if isinstance(self._state, DegradingBackend):
            out["state"] = {"degraded": self._state.degraded}
        return out

    async def astats(self) -> dict[str, Any]:
        """:meth:`stats` with breaker states read from the (shared) backend."""
        out = self.stats()
        for name, entry in out["deployments"].items():
            entry["breaker"] = await self._admission.breaker.snapshot(name)
        return out

    async def breaker_state(self, deployment: str) -> BreakerState:
        """The breaker state of a deployment id, from the backend."""
        return await self._admission.breaker.state(deployment)

    @property
    def breaker(self) -> Breaker:
        """The circuit breaker policy in force (its records live in the state backend)."""
        return self._admission.breaker

    async def probe_slots(self, deployment: str) -> int:
        """Half-open probe slots taken on a deployment id (0 unless half-open)."""
        return await self._admission.breaker.probe_slots(deployment)

    def run_sync(self, make: Callable[[], Any]) -> Any:
        """Run ``make()`` (a coroutine factory) on the registry's managed loops."""
        return self.registry.run_sync(make)

    async def aclose(self) -> None:
        """Close the backend and the registry's connections on this loop."""
        await self.backend.aclose()
        await self.registry.aclose()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _deterministic(params: Mapping[str, Any]) -> bool:
    """Whether identical requests should get identical answers (greedy sampling)."""
    return params.get("temperature") == 0
