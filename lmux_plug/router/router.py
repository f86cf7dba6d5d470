"""The :class:`Router`: logical models over deployments, with the resilience layer.

A call walks a *chain* of models (the requested one, then its fallbacks). For each model
it makes up to ``retries + 1`` attempts; each attempt picks a deployment (selection
strategy, primaries before the fallback tier, skipping open breakers, cooling-down
deployments and full quotas, waiting for capacity when every one is full), takes a key
from the deployment's pool, is admitted by the rate limiter, and calls the registry with
the deployment's ``api_key`` and ``base_url``. Every attempt is recorded on the answer
(``ChatResponse.attempts``) or on the final exception (``exc.attempts``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from lmux_plug._types import ChatChunk, ChatResponse, EmbeddingResponse, Message, Secret, Usage
from lmux_plug.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthExceededError,
    LmuxError,
    NotFoundError,
    ProviderError,
    RateLimitError,
)
from lmux_plug.router.breaker import Breaker, BreakerState
from lmux_plug.router.cache import ResponseCache, request_key
from lmux_plug.router.config import ConfigSource, Deployment, LogicalModel, RouterConfig
from lmux_plug.router.keys import KeyPool
from lmux_plug.router.limits import LimitTracker, estimate_tokens
from lmux_plug.router.retry import Attempt, retry_wait
from lmux_plug.router.selection import Tier
from lmux_plug.router.singleflight import SingleFlight
from lmux_plug.router.state import Bucket, MemoryBackend, StateBackend
from lmux_plug.router.stats import StatsBook

if TYPE_CHECKING:
    from lmux_plug.registry import Registry

__all__ = ["Router"]

T = TypeVar("T")
_Messages = Iterable[Message | Mapping[str, Any]] | str
_Call = Callable[["_Runtime", "str | None", float], Awaitable[Any]]


class _Runtime:
    """What the router keeps per deployment across calls (and across config reloads)."""

    __slots__ = ("deployment", "id", "keys", "stats", "tracker")

    def __init__(self, deployment: Deployment, learn: bool, book: StatsBook) -> None:
        self.deployment = deployment
        self.id = deployment.id
        self.tracker = LimitTracker(
            deployment.id, deployment.limits, deployment.key_limits, learn=learn
        )
        self.keys = KeyPool(deployment.id, deployment.api_keys) if deployment.api_keys else None
        self.stats = book.deployment(deployment.id)


@attrs.frozen
class _Target:
    """A model of a chain, resolved: its tiers of deployments and its fallbacks."""

    name: str
    tiers: tuple[Tier[_Runtime], ...]
    model: LogicalModel | None
    strategy: str


class _Plan:
    """A config snapshot prepared for calls (built once per snapshot)."""

    def __init__(
        self, config: RouterConfig, runtimes: dict[Deployment, _Runtime], book: StatsBook
    ) -> None:
        self.config = config
        self.targets: dict[str, _Target] = {}
        self._runtimes = runtimes
        self._book = book
        for name, model in config.models.items():
            self.targets[name] = self._target(name, model.deployments, model)

    def _runtime(self, deployment: Deployment) -> _Runtime:
        runtime = self._runtimes.get(deployment)
        if runtime is None:
            runtime = self._runtimes[deployment] = _Runtime(
                deployment, self.config.learn_limits, self._book
            )
        return runtime

    def _target(
        self, name: str, deployments: Sequence[Deployment], model: LogicalModel | None
    ) -> _Target:
        runtimes = [self._runtime(d) for d in deployments]
        tiers = []
        for tier in ("primary", "fallback"):
            members = [r for r in runtimes if r.deployment.tier == tier]
            if members:
                tiers.append(Tier(members, [r.deployment for r in members]))
        return _Target(
            name, tuple(tiers), model, model.strategy if model is not None else "weighted"
        )

    def target(self, name: str) -> _Target:
        """The logical model ``name``, or a single implicit deployment for ``provider/model``."""
        found = self.targets.get(name)
        if found is None:
            if "/" not in name:
                known = ", ".join(sorted(self.targets)) or "none"
                msg = (
                    f"unknown logical model {name!r} (configured: {known}); "
                    "use 'provider/model' or configure it"
                )
                raise NotFoundError(msg, model=name)
            found = self.targets[name] = self._target(name, [Deployment(name)], None)
        return found


class _Admitted:
    __slots__ = ("buckets", "fp", "key", "member", "probe", "runtime", "tokens", "wait")

    def __init__(
        self,
        runtime: _Runtime,
        *,
        key: Secret | None,
        fp: str | None,
        buckets: tuple[Bucket, ...],
        member: str,
        tokens: int,
        wait: float,
    ) -> None:
        self.runtime = runtime
        self.key = key
        self.fp = fp
        self.buckets = buckets
        self.member = member
        self.tokens = tokens
        self.wait = wait
        self.probe = False


class _Options:
    """Per-call settings resolved against the config snapshot."""

    __slots__ = (
        "content_filter",
        "context_fallbacks",
        "deadline_at",
        "fallbacks",
        "retries",
        "sticky_key",
    )

    def __init__(
        self,
        config: RouterConfig,
        *,
        fallback_models: Sequence[str] | None,
        retries: int | None,
        deadline: float | None,
        sticky_key: str | None,
        context_fallbacks: Sequence[str] | None,
        content_filter_fallback: bool | None,
    ) -> None:
        self.fallbacks = fallback_models
        self.retries = config.retries if retries is None else retries
        self.deadline_at = time.monotonic() + (config.deadline if deadline is None else deadline)
        self.sticky_key = sticky_key
        self.context_fallbacks = context_fallbacks
        self.content_filter = (
            config.content_filter_fallback
            if content_filter_fallback is None
            else content_filter_fallback
        )


class Router:
    """Route calls to logical models over pools of deployments, with retries and limits.

    ``models`` maps logical names to :class:`LogicalModel` or lists of deployments; or
    pass a whole :class:`RouterConfig` as ``config``, or a file as ``config_path`` (it is
    re-read when it changes; see :class:`ConfigSource`). ``registry`` defaults to every
    installed plugin; ``backend`` to an in-process :class:`MemoryBackend` (use
    :class:`~lmux_plug.router.state.RedisBackend` to share limits across processes).
    """

    def __init__(
        self,
        models: Mapping[str, LogicalModel | Sequence[Deployment | str]] | None = None,
        *,
        registry: Registry | None = None,
        backend: StateBackend | None = None,
        config: RouterConfig | None = None,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if registry is None:
            from lmux_plug.registry import Registry  # noqa: PLC0415

            registry = Registry.from_entry_points()
        self.registry = registry
        self.backend: StateBackend = backend or MemoryBackend()
        self._source = ConfigSource(config_path) if config_path is not None else None
        if config is None:
            config = self._source.current() if self._source else RouterConfig(models=models or {})
        elif models:
            config = attrs.evolve(config, models={**config.models, **models})
        self.book = StatsBook()
        self._runtimes: dict[Deployment, _Runtime] = {}
        self._config = config
        self._plan = _Plan(config, self._runtimes, self.book)
        self._breaker = self._make_breaker(config)
        self._breaker_seen: dict[str, BreakerState] = {}
        self._breaker_dirty: set[str] = set()
        shared = None if isinstance(self.backend, MemoryBackend) else self.backend
        self.cache = ResponseCache(shared, size=config.cache_size)
        self._flights: SingleFlight[ChatResponse] = SingleFlight()
        self._members = itertools.count()
        self._member_prefix = f"{os.getpid()}-{id(self):x}-"

    def __repr__(self) -> str:
        return f"Router(models={sorted(self._config.models)}, backend={self.backend!r})"

    def _make_breaker(self, config: RouterConfig) -> Breaker:
        return Breaker(
            self.backend,
            threshold=config.breaker_threshold,
            cooldown=config.breaker_cooldown,
            max_cooldown=config.breaker_max_cooldown,
            probes=config.breaker_probes,
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def config(self) -> RouterConfig:
        """The snapshot new calls use."""
        return self._current().config

    def configure(self, config: RouterConfig) -> None:
        """Swap in a new snapshot: the next call uses it, calls in flight keep the old one."""
        self._config = config
        self._plan = _Plan(config, self._runtimes, self.book)
        self._breaker = self._make_breaker(config)

    def reload(self) -> bool:
        """Re-read ``config_path`` now; return whether a new valid snapshot was loaded."""
        if self._source is None:
            return False
        if self._source.reload():
            self.configure(self._source.current())
            return True
        return False

    def _current(self) -> _Plan:
        if self._source is not None:
            config = self._source.current()
            if config is not self._config:
                self.configure(config)
        return self._plan

    # -- admission ------------------------------------------------------------------------

    async def _admit(
        self, target: _Target, tokens_estimate: Callable[[], int], options: _Options
    ) -> _Admitted:
        """Pick a deployment that can take the call now, waiting for capacity if needed."""
        waited = 0.0
        backend = self.backend
        while True:
            soonest = float("inf")  # the soonest a quota or cooldown frees up
            breaker_soonest = float("inf")  # the soonest an open breaker lets a probe in
            auth_error: AuthenticationError | None = None
            for tier in target.tiers:
                order = tier.order(
                    target.strategy,
                    sticky_key=options.sticky_key,
                    busy=self.book.busy,
                    latency=self.book.latency,
                )
                for runtime in order:
                    state = await self._breaker.state(runtime.id)
                    if state == "open":
                        retry_in = await self._breaker.retry_in(runtime.id)
                        breaker_soonest = min(breaker_soonest, retry_in or 0.001)
                        continue
                    key = fp = None
                    if runtime.keys is not None:
                        await runtime.keys.refresh(backend)
                        try:
                            key, fp = runtime.keys.pick()
                        except AuthenticationError as exc:
                            auth_error = exc
                            continue
                    buckets = runtime.tracker.buckets(fp)
                    tokens = tokens_estimate() if runtime.tracker.counts_tokens(fp) else 0
                    member = f"{self._member_prefix}{next(self._members)}"
                    wait = await backend.acquire(buckets, member, tokens, runtime.id)
                    if wait > 0:
                        soonest = min(soonest, wait)
                        continue
                    admitted = _Admitted(
                        runtime,
                        key=key,
                        fp=fp,
                        buckets=buckets,
                        member=member,
                        tokens=tokens,
                        wait=waited,
                    )
                    if state == "half-open":
                        if not await self._breaker.allow(runtime.id):
                            await backend.release(buckets, member, -tokens, used=False)
                            soonest = min(soonest, 0.01)
                            continue
                        admitted.probe = True
                    return admitted
            remaining = options.deadline_at - time.monotonic()
            if soonest == float("inf"):
                # Nothing to wait for: fail fast, so the chain moves on to a fallback.
                if breaker_soonest < float("inf"):
                    msg = f"every usable deployment of {target.name!r} has an open circuit breaker"
                    raise ProviderError(msg, model=target.name, retry_after=breaker_soonest)
                if auth_error is not None:
                    raise auth_error
                msg = f"no deployment of {target.name!r} is usable"
                raise ProviderError(msg, model=target.name, retryable=False)
            soonest = min(soonest, breaker_soonest)
            if soonest > remaining:
                msg = (
                    f"no capacity for {target.name!r} within the call's deadline "
                    f"(next slot in {soonest:.3f}s, {max(remaining, 0):.3f}s left)"
                )
                raise RateLimitError(msg, model=target.name, retry_after=soonest)
            await asyncio.sleep(soonest)
            waited += soonest

    async def _settle(
        self,
        admitted: _Admitted,
        error: LmuxError | None,
        latency: float,
        *,
        headers: Mapping[str, str],
        usage: Usage | None,
        cost: Any,
    ) -> None:
        """Release the admission and record the outcome (limits, breaker, keys, stats)."""
        runtime = admitted.runtime
        backend = self.backend
        delta = 0
        if usage is not None and admitted.tokens:
            delta = usage.input_tokens + usage.output_tokens - admitted.tokens
        # A call refused before any I/O (bad input, capability) used no quota.
        sent = error is None or error.status_code is not None or error.retryable
        await backend.release(admitted.buckets, admitted.member, delta, used=sent)
        if headers:
            for bucket, remaining, reset in runtime.tracker.observe(headers, admitted.fp):
                await backend.sync(bucket, remaining, reset)
        stats = runtime.stats
        key_stats = self.book.key(runtime.id, admitted.fp) if admitted.fp is not None else None
        if error is None:
            stats.successes += 1
            stats.latencies.append(latency)
            stats.ewma_latency = (
                latency if not stats.ewma_latency else 0.8 * stats.ewma_latency + 0.2 * latency
            )
            if usage is not None:
                stats.input_tokens += usage.input_tokens
                stats.output_tokens += usage.output_tokens
            if cost is not None:
                stats.cost += cost.total
            if key_stats is not None:
                key_stats.successes += 1
                key_stats.latencies.append(latency)
                if cost is not None:
                    key_stats.cost += cost.total
                if usage is not None:
                    key_stats.input_tokens += usage.input_tokens
                    key_stats.output_tokens += usage.output_tokens
            # Only a breaker this process saw fail needs a write (healthy path: no I/O).
            if admitted.probe or runtime.id in self._breaker_dirty:
                self._breaker_dirty.discard(runtime.id)
                self._breaker_seen[runtime.id] = await self._breaker.record(
                    runtime.id, failed=False
                )
            return
        if isinstance(error, RateLimitError):
            stats.rate_limited += 1
            if key_stats is not None:
                key_stats.rate_limited += 1
            if runtime.keys is not None and admitted.fp is not None and runtime.keys.alive > 1:
                runtime.keys.rotate(admitted.fp)
            else:
                await self._cool_down(runtime, error)
        else:
            stats.failures += 1
            if key_stats is not None:
                key_stats.failures += 1
            if error.retry_after is not None:
                await self._cool_down(runtime, error)
        if (
            isinstance(error, AuthenticationError)
            and error.status_code in (401, 403)
            and runtime.keys is not None
            and admitted.fp is not None
        ):
            await runtime.keys.evict(admitted.fp, backend)
        # Quota refusals are handled by cooldowns; only other retryable failures say the
        # endpoint is unhealthy. 400/401/403/404 are not retryable: they never trip it.
        failed = error.retryable and not isinstance(error, RateLimitError)
        if failed or admitted.probe:
            self._breaker_dirty.add(runtime.id)
            self._breaker_seen[runtime.id] = await self._breaker.record(runtime.id, failed=failed)

    async def _cool_down(self, runtime: _Runtime, error: LmuxError) -> None:
        if error.retry_after is not None:
            seconds = min(error.retry_after, self._config.retry_after_cap)
            if seconds > 0:
                await self.backend.block(runtime.id, seconds)

    # -- the retry / fallback loop --------------------------------------------------------

    def _chain(self, plan: _Plan, model: str, options: _Options) -> list[str]:
        if options.fallbacks is not None:
            return [model, *options.fallbacks]
        target = plan.target(model)
        return [model, *(target.model.fallbacks if target.model is not None else ())]

    async def _run(
        self,
        plan: _Plan,
        model: str,
        options: _Options,
        tokens_estimate: Callable[[], int],
        call: Callable[
            [_Admitted, float], Awaitable[tuple[T, Mapping[str, str], Usage | None, Any]]
        ],
    ) -> tuple[T, list[Attempt]]:
        config = plan.config
        chain = self._chain(plan, model, options)
        attempts: list[Attempt] = []
        last: LmuxError | None = None
        position = 0
        visited: set[str] = set()
        backoff_wait = 0.0
        break_chain = False
        while position < len(chain) and not break_chain:
            name = chain[position]
            position += 1
            if name in visited:
                continue
            visited.add(name)
            target = plan.target(name)
            retry = 0
            while retry <= options.retries:
                if backoff_wait:
                    if time.monotonic() + backoff_wait > options.deadline_at:
                        break
                    await asyncio.sleep(backoff_wait)
                try:
                    admitted = await self._admit(target, tokens_estimate, options)
                except LmuxError as exc:
                    attempts.append(Attempt(target.name, exc, backoff_wait))
                    last = exc
                    break  # nothing of this model can serve it: next in the chain
                wait = backoff_wait + admitted.wait
                backoff_wait = 0.0
                runtime = admitted.runtime
                stats = runtime.stats
                stats.requests += 1
                stats.inflight += 1
                if admitted.fp is not None:
                    self.book.key(runtime.id, admitted.fp).requests += 1
                if retry:
                    stats.retries += 1
                start = time.monotonic()
                try:
                    result, headers, usage, cost = await call(admitted, options.deadline_at - start)
                except LmuxError as exc:
                    latency = time.monotonic() - start
                    stats.inflight -= 1
                    await self._settle(
                        admitted, exc, latency, headers=exc.headers, usage=None, cost=None
                    )
                    attempts.append(Attempt(runtime.id, exc, wait, latency, admitted.fp))
                    last = failure = exc
                else:
                    latency = time.monotonic() - start
                    stats.inflight -= 1
                    await self._settle(
                        admitted, None, latency, headers=headers, usage=usage, cost=cost
                    )
                    attempts.append(Attempt(runtime.id, None, wait, latency, admitted.fp))
                    return result, attempts
                # What now: retry here, jump in the chain, or give up.
                if isinstance(failure, ContextLengthExceededError):
                    bigger = options.context_fallbacks
                    if bigger is None and target.model is not None:
                        bigger = target.model.context_fallbacks
                    if not bigger:
                        break_chain = True
                        break
                    chain[position:position] = list(bigger)
                    break
                if isinstance(failure, ContentFilterError):
                    others = (
                        target.model.content_filter_fallbacks if target.model is not None else ()
                    )
                    if not options.content_filter or not others:
                        break_chain = True
                        break
                    chain[position:position] = list(others)
                    break
                if (
                    isinstance(failure, AuthenticationError)
                    and runtime.keys is not None
                    and runtime.keys.alive
                ):
                    retry += 1  # another key of the pool may work
                    continue
                if not failure.retryable:
                    # Bad input fails everywhere; a deployment-specific refusal (auth,
                    # unknown model) may work on the next model of the chain.
                    break_chain = not isinstance(failure, (AuthenticationError, NotFoundError))
                    break
                retry += 1
                if failure.retry_after is None:
                    backoff_wait = retry_wait(
                        failure,
                        retry - 1,
                        base=config.backoff_base,
                        cap=config.backoff_max,
                        retry_after_cap=config.retry_after_cap,
                    )
                # With Retry-After, the deployment cools down and admission does the wait
                # (another deployment may take the call at once).
        if last is None:  # pragma: no cover - the chain always holds the model
            msg = f"no attempt could be made for {model!r}"
            raise ProviderError(msg, model=model)
        _attach(last, attempts)
        raise last

    # -- public API -----------------------------------------------------------------------

    async def achat(
        self,
        model: str,
        messages: _Messages,
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
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
        of extra attempts per model; ``deadline`` bounds the whole call in seconds;
        ``sticky_key`` makes the deployment order deterministic for that key; ``cache``
        / ``cache_ttl`` use the response cache; ``singleflight`` shares one upstream call
        among identical concurrent calls (by default only for deterministic requests
        when enabled in the config). Other ``params`` go to the provider as with
        :meth:`Registry.achat`.
        """
        plan = self._current()
        config = plan.config
        options = _Options(
            config,
            fallback_models=fallback_models,
            retries=retries,
            deadline=deadline,
            sticky_key=sticky_key,
            context_fallbacks=context_fallbacks,
            content_filter_fallback=content_filter_fallback,
        )
        ttl = cache_ttl if cache_ttl is not None else config.cache_ttl
        use_cache = bool(ttl) if cache is None else cache and ttl is not None
        share = singleflight
        if share is None:
            share = config.singleflight and _deterministic(params)
        if not use_cache and not share:
            return await self._chat(plan, model, messages, options, params)
        key = self._request_key("chat", model, messages, params)
        if use_cache:
            hit = await self.cache.get_response(key)
            if hit is not None:
                return hit

        async def fetch() -> ChatResponse:
            response = await self._chat(plan, model, messages, options, params)
            if use_cache and ttl:
                await self.cache.set_response(key, response, ttl)
            return response

        if share:
            response, _ = await self._flights.do(key, fetch)
            return response
        return await fetch()

    async def _chat(
        self,
        plan: _Plan,
        model: str,
        messages: _Messages,
        options: _Options,
        params: dict[str, Any],
    ) -> ChatResponse:
        registry = self.registry
        user_timeout = params.pop("timeout", None)
        tokens = functools.cache(
            functools.partial(estimate_tokens, messages, params.get("max_tokens"))
        )

        async def call(
            admitted: _Admitted, remaining: float
        ) -> tuple[ChatResponse, Mapping[str, str], Usage, Any]:
            deployment = admitted.runtime.deployment
            timeout = remaining if user_timeout is None else min(user_timeout, remaining)
            response = await registry.achat(
                deployment.model,
                messages,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                timeout=max(timeout, 0.001),
                **params,
            )
            return response, response.headers, response.usage, response.cost

        response, attempts = await self._run(plan, model, options, tokens, call)
        # The registry built this answer for this call alone: record the attempts on it
        # in place (attrs.evolve would copy every field on the hot path).
        object.__setattr__(response, "attempts", tuple(attempts))
        return response

    async def aembed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
        sticky_key: str | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embed through the router (selection, limits, retries and fallbacks as for chat)."""
        plan = self._current()
        options = _Options(
            plan.config,
            fallback_models=fallback_models,
            retries=retries,
            deadline=deadline,
            sticky_key=sticky_key,
            context_fallbacks=None,
            content_filter_fallback=None,
        )
        registry = self.registry
        user_timeout = params.pop("timeout", None)
        tokens = functools.cache(functools.partial(estimate_tokens, inputs, 0))

        async def call(
            admitted: _Admitted, remaining: float
        ) -> tuple[EmbeddingResponse, Mapping[str, str], Usage, Any]:
            deployment = admitted.runtime.deployment
            timeout = remaining if user_timeout is None else min(user_timeout, remaining)
            response = await registry.aembed(
                deployment.model,
                inputs,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                timeout=max(timeout, 0.001),
                **params,
            )
            return response, response.headers, response.usage, response.cost

        response, _ = await self._run(plan, model, options, tokens, call)
        return response

    async def achat_stream(
        self,
        model: str,
        messages: _Messages,
        *,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        deadline: float | None = None,
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
        options = _Options(
            config,
            fallback_models=fallback_models,
            retries=retries,
            deadline=deadline,
            sticky_key=sticky_key,
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
        tokens = functools.cache(
            functools.partial(estimate_tokens, messages, params.get("max_tokens"))
        )
        holder: dict[str, Any] = {}

        async def call(
            admitted: _Admitted, remaining: float
        ) -> tuple[
            tuple[ChatChunk, AsyncIterator[ChatChunk]], Mapping[str, str], Usage | None, Any
        ]:
            deployment = admitted.runtime.deployment
            timeout = remaining if user_timeout is None else min(user_timeout, remaining)
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
            return (first, iterator), {}, None, None

        (first, iterator), _ = await self._run(plan, model, options, tokens, call)
        admitted: _Admitted = holder["admitted"]
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
                        await self.backend.release(
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
        request, _ = self.registry._chat_request(model, messages, dict(params))  # noqa: SLF001
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
            entry["breaker"] = {"state": self._breaker_seen.get(runtime.id, "closed")}
            entry["limits"] = runtime.tracker.describe()
            keys: dict[str, Any] = {}
            if runtime.keys is not None:
                for fp in runtime.keys.fingerprints:
                    key_entry = self.book.key(runtime.id, fp).as_dict()
                    key_entry["evicted"] = fp in runtime.keys.dead
                    keys[fp] = key_entry
            entry["keys"] = keys
            out["deployments"][runtime.id] = entry
        return out

    async def astats(self) -> dict[str, Any]:
        """:meth:`stats` with breaker states read from the (shared) backend."""
        out = self.stats()
        for name, entry in out["deployments"].items():
            entry["breaker"] = await self._breaker.snapshot(name)
        return out

    async def breaker_state(self, deployment: str) -> BreakerState:
        """The breaker state of a deployment id, from the backend."""
        return await self._breaker.state(deployment)

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


def _attach(error: LmuxError, attempts: list[Attempt]) -> None:
    error.attempts = tuple(attempts)  # type: ignore[attr-defined]
