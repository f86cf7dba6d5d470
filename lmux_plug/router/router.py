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
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import cast

import attrs

from lmux_plug._evolve import evolve
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatResponse
from lmux_plug._types import EmbeddingResponse
from lmux_plug.errors import LmuxError
from lmux_plug.params import InvalidParameterError
from lmux_plug.params import did_you_mean
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock
from lmux_plug.resilience.tokens import estimate_tokens
from lmux_plug.router.admission import Admission
from lmux_plug.router.admission import Admitted
from lmux_plug.router.attempts import run_attempts
from lmux_plug.router.breaker import Breaker
from lmux_plug.router.breaker import BreakerState
from lmux_plug.router.cache import ResponseCache
from lmux_plug.router.cache import request_key
from lmux_plug.router.config import ConfigProblem
from lmux_plug.router.config import ConfigSource
from lmux_plug.router.config import ConfigValidationError
from lmux_plug.router.config import Deployment
from lmux_plug.router.config import LogicalModel
from lmux_plug.router.config import RouterConfig
from lmux_plug.router.config import apply_preset
from lmux_plug.router.degrade import DegradingBackend
from lmux_plug.router.plan import CallOptions
from lmux_plug.router.plan import DeploymentRuntime
from lmux_plug.router.plan import Plan
from lmux_plug.router.plan import take_routing
from lmux_plug.router.singleflight import SingleFlight
from lmux_plug.router.state import MemoryBackend
from lmux_plug.router.state import StateBackend
from lmux_plug.router.stats import StatsBook

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug.convert import MessagesLike
    from lmux_plug.registry import Registry
    from lmux_plug.router.plan import RoutedChatParams
    from lmux_plug.router.plan import RoutedEmbedParams
    from lmux_plug.router.plan import RoutedStreamParams

__all__ = ["Router"]

_In = TypeVar("_In")  # a call's messages or embedding inputs


class _Send:
    """A chat or embedding call, sent by the attempt loop to the deployment that admits it.

    Also the call's token estimate (computed at most once, only if a bucket needs it). One
    object per call instead of a closure and its cells: this runs on every routed call.
    """

    __slots__ = ("_estimate", "inputs", "max_tokens", "method", "params", "user_timeout")

    def __init__(self, method: Callable[..., Any], inputs: Any, params: dict[str, Any]) -> None:
        self.method = method
        self.inputs = inputs
        self.params = params
        self.user_timeout = params.pop("timeout", None)
        self.max_tokens = params.get("max_tokens")
        self._estimate = -1

    def __call__(self, admitted: Admitted, remaining: float) -> Any:
        deployment = admitted.runtime.deployment
        params = self.params
        # The attempt loop enforces the deadline and the attempt timeout around this call;
        # a timeout is passed on only when the caller gave one.
        if self.user_timeout is not None:
            params["timeout"] = max(min(self.user_timeout, remaining), 0.001)
        return self.method(
            deployment.model,
            self.inputs,
            api_key=admitted.key.reveal() if admitted.key is not None else None,
            base_url=deployment.base_url,
            **params,
        )

    def tokens(self) -> int:
        """The call's token estimate (prompt size + ``max_tokens``)."""
        if self._estimate < 0:
            self._estimate = estimate_tokens(self.inputs, self.max_tokens)
        return self._estimate


class _SendChat(_Send):
    """A chat call: the registry gives the answer and its latency apart.

    The router copies the answer once, to add its attempts, and sets the latency in that
    same copy: a frozen ``ChatResponse`` copy costs about as much as building one. It calls
    the registry's chat body directly (what ``Registry.achat_timed`` wraps): one coroutine
    less on every routed call, and no keyword arguments packed and unpacked again.
    """

    __slots__ = ("latency",)

    def __init__(self, registry: Registry, inputs: Any, params: dict[str, Any]) -> None:
        super().__init__(registry._achat, inputs, params)  # noqa: SLF001 - see the docstring
        self.latency: float | None = None

    async def __call__(self, admitted: Admitted, remaining: float) -> ChatResponse:
        deployment = admitted.runtime.deployment
        params = self.params
        if self.user_timeout is not None:
            params["timeout"] = max(min(self.user_timeout, remaining), 0.001)
        response: ChatResponse
        response, latency = await self.method(
            deployment.model,
            self.inputs,
            admitted.key.reveal() if admitted.key is not None else None,
            deployment.base_url,
            dict(params),  # a copy per attempt: the registry may take items out of it
        )
        # As achat_timed: the plugin's own latency, if it set one.
        self.latency = latency if response.latency is None else response.latency
        return response


class _StreamStart:
    """A stream's first chunk and the rest; settled at the first chunk (no usage yet)."""

    __slots__ = ("first", "iterator")

    headers: Mapping[str, str] = {}
    usage = None
    cost = None

    def __init__(self, first: ChatChunk, iterator: AsyncIterator[ChatChunk]) -> None:
        self.first = first
        self.iterator = iterator


class Router:
    """Route calls to logical models over pools of deployments, with retries and limits.

    ``models`` maps logical names to :class:`LogicalModel` or lists of deployments; or
    pass a whole :class:`RouterConfig` as ``config``, or a file as ``config_path`` (it is
    re-read when it changes; see :class:`ConfigSource`). ``registry`` defaults to every
    installed plugin (the registry of the module-level functions,
    :func:`lmux_plug.default_registry`); ``backend`` to an in-process :class:`MemoryBackend` (use
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
            # The process-wide registry of the module-level functions and the drop-in client:
            # one connection pool, and what a test's ``lmux_mock`` / ``lmux_registry`` stands in.
            from lmux_plug import default_registry  # noqa: PLC0415

            registry = default_registry()
        self.registry = registry
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.backend: StateBackend = backend or MemoryBackend(clock=self.clock)
        self._source = (
            ConfigSource(config_path, check=self._check_providers)
            if config_path is not None
            else None
        )
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

    def _check_providers(self, config: RouterConfig, source: str) -> None:
        """Refuse a file whose deployments or fallbacks name a provider the registry lacks.

        Such a file would load and then fail every call to that deployment; with the
        provider's install hint or a did-you-mean it fails at load (a reload keeps the last
        good config) instead.
        """
        if not callable(getattr(self.registry, "providers", None)):
            return  # a duck-typed client: nothing to check against
        from lmux_plug._cli_models import model_problem  # noqa: PLC0415 - load time only

        logical = set(config.models)
        problems = []
        for name, model in config.models.items():
            places = [(f"deployments[{i}].model", d.model) for i, d in enumerate(model.deployments)]
            places += [
                (f"{field}[{i}]", target)
                for field in ("fallbacks", "context_fallbacks", "content_filter_fallbacks")
                for i, target in enumerate(getattr(model, field))
            ]
            for where, target in places:
                problem = model_problem(self.registry, target, logical)
                if problem is not None:
                    problems.append(ConfigProblem(f"$.models.{name}.{where}", problem))
        if problems:
            raise ConfigValidationError(source, problems)

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
        self, model: str, messages: MessagesLike, **params: Unpack[RoutedChatParams]
    ) -> ChatResponse:
        """Send a chat request to a logical model (or ``provider/model``) through the router.

        The routing options are those of :class:`~lmux_plug.router.plan.ChatRouting`
        (``fallback_models``, ``retries``, ``deadline``, ``attempt_timeout``,
        ``sticky_key``, ``cache`` / ``cache_ttl``, ``context_fallbacks``,
        ``content_filter_fallback``) and ``singleflight``, which shares one upstream call
        among identical concurrent calls (by default only for deterministic requests when
        enabled in the config). Other ``params`` go to the provider as with
        :meth:`Registry.achat`.
        """
        plan, messages, sent, deadline_at, options, routing, ttl, use_cache = self._setup(
            "chat", model, messages, cast("dict[str, Any]", params)
        )
        share = routing.get("singleflight")
        if share is None:
            share = plan.config.singleflight and _deterministic(sent)
        if not use_cache and not share:
            # _chat inlined: the plain call (nearly every call) awaits one coroutine less.
            send = _SendChat(self.registry, messages, sent)
            response, attempts = await run_attempts(
                plan, self._admission, self.clock, model, options, deadline_at, send.tokens, send
            )
            return evolve(response, attempts=attempts, latency=send.latency)
        key = self._request_key("chat", model, messages, sent)
        if use_cache:
            hit = await self.cache.get_response(key)
            if hit is not None:
                return hit

        async def fetch() -> ChatResponse:
            response = await self._chat(plan, model, messages, options, deadline_at, sent)
            if use_cache and ttl:
                await self.cache.set_response(key, response, ttl)
            return response

        if share:
            response, _ = await self._flights.do(key, fetch)
            return response
        return await fetch()

    def _setup(
        self, kind: str, model: str, messages: _In, params: dict[str, Any]
    ) -> tuple[Plan, _In, dict[str, Any], float, CallOptions, dict[str, Any], float | None, bool]:
        """What a call (``kind``: chat, stream or embed) starts from, the options checked once.

        Returns the config snapshot's plan, the messages (or inputs) and parameters with the
        model's preset applied and the routing options taken out, the deadline (on
        :attr:`clock`), the call's options, the routing options given, the cache TTL and
        whether the response cache is used.
        """
        routing = take_routing(kind, model, params)
        plan = self._plan if self._source is None else self._current()
        config = plan.config
        if kind != "embed" and model in plan.presets:  # presets shape chat calls only
            preset, params = apply_preset(config, model, cast("MessagesLike", messages), params)
            messages = cast("_In", preset)
        deadline = routing.get("deadline")
        deadline_at = self.clock.monotonic() + (config.deadline if deadline is None else deadline)
        options = plan.options(routing)
        if routing:
            for option in ("fallback_models", "context_fallbacks"):
                self._check_chain(plan, model, option, routing.get(option))
        cache = routing.get("cache")
        ttl = routing.get("cache_ttl", config.cache_ttl)
        use_cache = bool(ttl) if cache is None else cache and ttl is not None
        return plan, messages, params, deadline_at, options, routing, ttl, use_cache

    def _check_chain(
        self, plan: Plan, model: str, option: str, names: Sequence[str] | None
    ) -> None:
        """A per-call fallback names a logical model or a routable ``provider/model``.

        Else a typo (``"opena/gpt-4o"``) is found only when the chain reaches it, as a
        not-found error that moves on: the fallback silently never works.
        """
        resolve = getattr(self.registry, "resolve", None)
        if names is None or resolve is None:  # a duck-typed client: nothing to check against
            return
        for index, name in enumerate(names):
            if name in plan.config.models:
                continue
            try:
                resolve(name)
            except LmuxError as exc:
                message = f"{name!r}: {exc.message}"
                if "/" not in name:  # a misspelt logical model, most likely
                    hint = did_you_mean(name, sorted(plan.config.models))
                    message = f"{name!r} is not a logical model here nor 'provider/model'{hint}"
                raise InvalidParameterError(f"{option}[{index}]", message, model=model) from None

    async def _chat(  # noqa: PLR0917 - internal, once per call
        self,
        plan: Plan,
        model: str,
        messages: MessagesLike,
        options: CallOptions,
        deadline_at: float,
        params: dict[str, Any],
    ) -> ChatResponse:
        """The attempt loop of one chat call: the answer with its attempts and latency."""
        send = _SendChat(self.registry, messages, params)
        response, attempts = await run_attempts(
            plan, self._admission, self.clock, model, options, deadline_at, send.tokens, send
        )
        # One copy of the (frozen) answer carries both; see _SendChat.
        return evolve(response, attempts=attempts, latency=send.latency)

    async def aembed(
        self, model: str, inputs: str | Sequence[str], **params: Unpack[RoutedEmbedParams]
    ) -> EmbeddingResponse:
        """Embed through the router (selection, limits, retries and fallbacks as for chat).

        The routing options are those of :class:`~lmux_plug.router.plan.EmbedRouting`.
        """
        plan, inputs, sent, deadline_at, options, _, _, _ = self._setup(
            "embed", model, inputs, cast("dict[str, Any]", params)
        )
        send = _Send(self.registry.aembed, inputs, sent)
        send.max_tokens = 0  # an embedding has no output tokens
        response: EmbeddingResponse
        response, _ = await run_attempts(
            plan, self._admission, self.clock, model, options, deadline_at, send.tokens, send
        )
        return response

    async def achat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[RoutedStreamParams]
    ) -> AsyncIterator[ChatChunk]:
        """Stream through the router; retries happen only before the first chunk.

        The routing options are those of :class:`~lmux_plug.router.plan.StreamRouting`.
        Retries and fallbacks happen only before the first chunk reaches the caller;
        after that an error is raised as is.
        """
        plan, messages, sent, deadline_at, options, _, ttl, use_cache = self._setup(
            "stream", model, messages, cast("dict[str, Any]", params)
        )
        key = ""
        if use_cache:
            key = self._request_key("stream", model, messages, sent)
            cached = await self.cache.get_chunks(key)
            if cached is not None:
                for chunk in cached:
                    yield chunk
                return
        registry = self.registry
        estimate = _Send(registry.achat_stream, messages, sent)  # takes ``timeout`` out
        user_timeout = estimate.user_timeout
        holder: dict[str, Any] = {}

        async def call(
            admitted: Admitted,
            _attempt_limit: float,  # enforced around the first chunk by the attempt loop
        ) -> _StreamStart:
            deployment = admitted.runtime.deployment
            # The attempt timeout bounds the wait for the first chunk (the attempt loop
            # enforces it); the whole stream may take what is left of the call's deadline.
            left = deadline_at - self.clock.monotonic()
            timeout = left if user_timeout is None else min(user_timeout, left)
            iterator = registry.achat_stream(
                deployment.model,
                messages,
                api_key=admitted.key.reveal() if admitted.key is not None else None,
                base_url=deployment.base_url,
                timeout=max(timeout, 0.001),
                **sent,
            )
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = ChatChunk(provider=deployment.model.partition("/")[0])
            except BaseException:
                await iterator.aclose()  # type: ignore[attr-defined]
                raise
            holder["admitted"] = admitted
            return _StreamStart(first, iterator)

        start, _ = await run_attempts(
            plan, self._admission, self.clock, model, options, deadline_at, estimate.tokens, call
        )
        first, iterator = start.first, start.iterator
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
        self, kind: str, model: str, messages: MessagesLike, params: Mapping[str, Any]
    ) -> str:
        request = self.registry.chat_request(model, messages, **params)
        return request_key(kind, model, request)

    # -- sync twins -----------------------------------------------------------------------

    def chat(self, model: str, messages: MessagesLike, **params: Any) -> ChatResponse:
        """Sync :meth:`achat` (runs on the registry's managed loop)."""
        result: ChatResponse = self.registry.run_sync(lambda: self.achat(model, messages, **params))
        return result

    def chat_stream(self, model: str, messages: MessagesLike, **params: Any) -> Iterator[ChatChunk]:
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
