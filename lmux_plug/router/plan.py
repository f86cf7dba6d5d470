"""What a call works from: a config snapshot prepared for calls, and per-call options.

A :class:`Plan` is built once per config snapshot: each logical model becomes a
:class:`Target` (its deployments in tiers, primaries first). Per-deployment state that
outlives snapshots (limit trackers, key pools, counters) is a :class:`DeploymentRuntime`,
shared by every plan that names the same deployment. ``provider/model`` names that are not
configured get an implicit single-deployment target, kept in a bounded LRU so that model
strings sent by clients cannot grow the router without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from typing import TypedDict

import attrs

from lmux_plug.errors import NotFoundError
from lmux_plug.params import ChatParams
from lmux_plug.params import EmbedParams
from lmux_plug.params import check_routing_options
from lmux_plug.params import did_you_mean
from lmux_plug.resilience.clock import Clock
from lmux_plug.resilience.decision import RetryPolicy
from lmux_plug.router.breaker import record_key
from lmux_plug.router.config import Deployment
from lmux_plug.router.config import LogicalModel
from lmux_plug.router.config import RouterConfig
from lmux_plug.router.keys import KeyPool
from lmux_plug.router.limits import LimitTracker
from lmux_plug.router.selection import Tier
from lmux_plug.router.stats import Counters
from lmux_plug.router.stats import StatsBook

__all__ = [
    "MAX_IMPLICIT_TARGETS",
    "CallOptions",
    "ChatRouting",
    "DeploymentRuntime",
    "EmbedRouting",
    "Plan",
    "RoutedChatParams",
    "RoutedEmbedParams",
    "RoutedStreamParams",
    "StreamRouting",
    "Target",
    "take_routing",
]

MAX_IMPLICIT_TARGETS = 1024


class EmbedRouting(TypedDict, total=False):
    """The routing options of every routed call (``None`` means the configured default).

    ``fallback_models`` replaces the model's default chain; ``retries`` is the number of
    extra attempts per model; ``deadline`` bounds the whole call in seconds and
    ``attempt_timeout`` each attempt (a hung attempt is cut and retried elsewhere);
    ``sticky_key`` makes the deployment order deterministic for that key.
    """

    fallback_models: Sequence[str] | None
    retries: int | None
    deadline: float | None
    attempt_timeout: float | None
    sticky_key: str | None


class StreamRouting(EmbedRouting, total=False):
    """:class:`EmbedRouting` plus the chat options: response cache and chat fallbacks.

    ``cache`` / ``cache_ttl`` use the response cache; ``context_fallbacks`` replaces the
    models tried when the prompt is too long for one; ``content_filter_fallback`` turns the
    content-filter fallbacks on or off.
    """

    cache: bool | None
    cache_ttl: float | None
    context_fallbacks: Sequence[str] | None
    content_filter_fallback: bool | None


class ChatRouting(StreamRouting, total=False):
    """:class:`StreamRouting` plus ``singleflight`` (one upstream call shared by identical ones)."""

    singleflight: bool | None


class RoutedChatParams(ChatParams, ChatRouting, total=False):
    """The keywords of a routed chat call: what is sent, and how it is routed."""


class RoutedStreamParams(ChatParams, StreamRouting, total=False):
    """The keywords of a routed streamed chat call."""


class RoutedEmbedParams(EmbedParams, EmbedRouting, total=False):
    """The keywords of a routed embedding call."""


# A TypedDict's annotations include its bases' keys.
_ROUTING_NAMES = {
    "chat": frozenset(ChatRouting.__annotations__),
    "stream": frozenset(StreamRouting.__annotations__),
    "embed": frozenset(EmbedRouting.__annotations__),
}
# The options a CallOptions holds; the router reads the others (deadline, cache ...) itself.
_CALL_OPTIONS = _ROUTING_NAMES["chat"] - {"deadline", "cache", "cache_ttl", "singleflight"}
_NONE: dict[str, Any] = {}  # returned, never changed: most calls set no routing option


def take_routing(kind: str, model: str, params: dict[str, Any]) -> dict[str, Any]:
    """Take the routing options ``kind``'s call accepts out of ``params``, checked.

    ``kind`` is ``"chat"``, ``"stream"`` or ``"embed"``. Returns the ones given (not
    ``None``); what stays in ``params`` goes to the provider (an option the call does not
    take, ``singleflight`` on a stream, is refused there as an unknown parameter). Raises
    :class:`~lmux_plug.params.InvalidParameterError` for a bad value.
    """
    names = _ROUTING_NAMES[kind]
    if params.keys().isdisjoint(names):
        return _NONE
    given = {}
    for name in names & params.keys():
        value = params.pop(name)
        if value is not None:
            given[name] = value
    if given:
        check_routing_options(model, **given)
    return given


class DeploymentRuntime:
    """What the router keeps per deployment across calls (and across config reloads)."""

    __slots__ = (
        "attempt_timeout",
        "breaker_key",
        "deployment",
        "id",
        "key_stats",
        "keys",
        "model",
        "stats",
        "tracker",
    )

    def __init__(self, deployment: Deployment, learn: bool, book: StatsBook, clock: Clock) -> None:
        self.deployment = deployment
        self.id = deployment.id
        self.model = deployment.model
        self.attempt_timeout = deployment.attempt_timeout
        self.tracker = LimitTracker(
            deployment.id, deployment.limits, deployment.key_limits, learn=learn
        )
        self.keys = (
            KeyPool(deployment.id, deployment.api_keys, clock=clock)
            if deployment.api_keys
            else None
        )
        self.stats: Counters = book.deployment(deployment.id)
        self.breaker_key = record_key(deployment.id)  # read before every call
        self.key_stats: dict[str, Counters] = {}  # the book's per-key counters, by fingerprint


@attrs.frozen
class Target:
    """A model of a chain, resolved: its tiers of deployments and its fallbacks."""

    name: str
    tiers: tuple[Tier[DeploymentRuntime], ...]
    model: LogicalModel | None
    strategy: str
    # The model's default fallback chain (none for an implicit ``provider/model``).
    fallbacks: tuple[str, ...] = ()
    # The model's own retry policy when it sets ``retries``; else the router's.
    policy: RetryPolicy | None = None


class Plan:
    """A config snapshot prepared for calls (built once per snapshot)."""

    def __init__(
        self,
        config: RouterConfig,
        runtimes: dict[Deployment, DeploymentRuntime],
        book: StatsBook,
        clock: Clock,
    ) -> None:
        self.config = config
        self.policy = RetryPolicy(
            retries=config.retries,
            backoff_base=config.backoff_base,
            backoff_max=config.backoff_max,
            retry_after_cap=config.retry_after_cap,
        )
        self.targets: dict[str, Target] = {}
        self._implicit: OrderedDict[str, Target] = OrderedDict()
        self._runtimes = runtimes
        self._book = book
        self._clock = clock
        self._configured: set[Deployment] = set()
        self.defaults = CallOptions(config)  # for calls that set no option
        # Logical models whose preset changes a call (``apply_preset``); most have none.
        self.presets = frozenset(
            name for name, m in config.models.items() if m.params or m.system is not None
        )
        for name, model in config.models.items():
            self.targets[name] = self._target(name, model.deployments, model)
            self._configured.update(model.deployments)

    def options(self, routing: dict[str, Any]) -> CallOptions:
        """A call's options (from :func:`take_routing`): :attr:`defaults` when it sets none."""
        if routing.keys().isdisjoint(_CALL_OPTIONS):
            return self.defaults
        return CallOptions(self.config, routing)

    def _runtime(self, deployment: Deployment) -> DeploymentRuntime:
        runtime = self._runtimes.get(deployment)
        if runtime is None:
            runtime = self._runtimes[deployment] = DeploymentRuntime(
                deployment, self.config.learn_limits, self._book, self._clock
            )
        return runtime

    def _target(
        self, name: str, deployments: Sequence[Deployment], model: LogicalModel | None
    ) -> Target:
        runtimes = [self._runtime(d) for d in deployments]
        tiers = []
        for tier in ("primary", "fallback"):
            members = [r for r in runtimes if r.deployment.tier == tier]
            if members:
                tiers.append(Tier(members, [r.deployment for r in members]))
        if model is None:
            return Target(name, tuple(tiers), None, "weighted")
        policy = None if model.retries is None else attrs.evolve(self.policy, retries=model.retries)
        return Target(name, tuple(tiers), model, model.strategy, tuple(model.fallbacks), policy)

    def target(self, name: str) -> Target:
        """The logical model ``name``, or a single implicit deployment for ``provider/model``."""
        found = self.targets.get(name)
        if found is not None:
            return found
        found = self._implicit.get(name)
        if found is not None:
            self._implicit.move_to_end(name)
            return found
        if "/" not in name:
            known = ", ".join(sorted(self.targets)) or "none"
            msg = (
                f"unknown logical model {name!r}{did_you_mean(name, sorted(self.targets))} "
                f"(configured: {known}); use 'provider/model' or configure it"
            )
            raise NotFoundError(msg, model=name)
        found = self._implicit[name] = self._target(name, [Deployment(name)], None)
        if len(self._implicit) > MAX_IMPLICIT_TARGETS:
            _, dropped = self._implicit.popitem(last=False)
            for tier in dropped.tiers:
                for runtime in tier.items:
                    if runtime.deployment not in self._configured:
                        self._runtimes.pop(runtime.deployment, None)
                        self._book.deployments.pop(runtime.id, None)
        return found


class CallOptions:
    """Per-call settings resolved against the config snapshot (the deadline aside).

    Calls that set none of them share :attr:`Plan.defaults`.
    """

    __slots__ = (
        "attempt_timeout",
        "content_filter",
        "context_fallbacks",
        "fallbacks",
        "retries",
        "sticky_key",
    )

    def __init__(self, config: RouterConfig, routing: dict[str, Any] | None = None) -> None:
        # Checked by take_routing: only calls that set an option build their own.
        given = routing or _NONE
        self.fallbacks: Sequence[str] | None = given.get("fallback_models")
        self.retries: int | None = given.get("retries")  # None: the model's, else the router's
        self.attempt_timeout: float | None = given.get("attempt_timeout")
        self.sticky_key: str | None = given.get("sticky_key")
        self.context_fallbacks: Sequence[str] | None = given.get("context_fallbacks")
        content_filter = given.get("content_filter_fallback")
        self.content_filter: bool = (
            config.content_filter_fallback if content_filter is None else content_filter
        )
