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

import attrs

from lmux_plug.errors import NotFoundError
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

__all__ = ["MAX_IMPLICIT_TARGETS", "CallOptions", "DeploymentRuntime", "Plan", "Target"]

MAX_IMPLICIT_TARGETS = 1024


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

    def options(  # noqa: PLR0917 - once per call: positional is cheapest
        self,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        attempt_timeout: float | None = None,
        sticky_key: str | None = None,
        context_fallbacks: Sequence[str] | None = None,
        content_filter_fallback: bool | None = None,
    ) -> CallOptions:
        """A call's options: the shared :attr:`defaults` when it sets none (most calls)."""
        if (
            fallback_models is None
            and retries is None
            and attempt_timeout is None
            and sticky_key is None
            and context_fallbacks is None
            and content_filter_fallback is None
        ):
            return self.defaults
        return CallOptions(
            self.config,
            fallback_models,
            retries,
            attempt_timeout,
            sticky_key,
            context_fallbacks,
            content_filter_fallback,
        )

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

    def __init__(  # noqa: PLR0917 - positional, as Plan.options passes them
        self,
        config: RouterConfig,
        fallback_models: Sequence[str] | None = None,
        retries: int | None = None,
        attempt_timeout: float | None = None,
        sticky_key: str | None = None,
        context_fallbacks: Sequence[str] | None = None,
        content_filter_fallback: bool | None = None,
    ) -> None:
        # Only calls that set an option get here: checking costs the others nothing.
        check_routing_options(
            fallback_models=fallback_models,
            retries=retries,
            attempt_timeout=attempt_timeout,
            sticky_key=sticky_key,
            context_fallbacks=context_fallbacks,
            content_filter_fallback=content_filter_fallback,
        )
        self.fallbacks = fallback_models
        self.retries = retries  # None: the model's, else the router's
        self.attempt_timeout = attempt_timeout
        self.sticky_key = sticky_key
        self.context_fallbacks = context_fallbacks
        self.content_filter = (
            config.content_filter_fallback
            if content_filter_fallback is None
            else content_filter_fallback
        )
