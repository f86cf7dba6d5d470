"""The router and resilience layer: ``from lmux_plug.router import Router``.

Logical models over weighted pools of deployments, retries honouring ``Retry-After``,
fallback chains, circuit breakers, key pools, client-side rate limits, singleflight, a
two-tier cache and shared state (in memory or Redis). Not imported by ``import
lmux_plug``, so the core stays fast to import. See ``docs/router.md``.
"""

from __future__ import annotations

from lmux_plug.router.breaker import Breaker
from lmux_plug.router.cache import EXCLUDED_FIELDS, request_key
from lmux_plug.router.config import (
    ConfigProblem,
    ConfigSource,
    ConfigValidationError,
    Deployment,
    Limits,
    LogicalModel,
    RouterConfig,
    find_config_file,
    load_config,
)
from lmux_plug.router.degrade import DegradingBackend
from lmux_plug.router.retry import Attempt
from lmux_plug.router.router import Router
from lmux_plug.router.state import MemoryBackend, RedisBackend, StateBackend, StateBackendError
from lmux_plug.router.stats import render_stats

__all__ = [
    "EXCLUDED_FIELDS",
    "Attempt",
    "Breaker",
    "ConfigProblem",
    "ConfigSource",
    "ConfigValidationError",
    "DegradingBackend",
    "Deployment",
    "Limits",
    "LogicalModel",
    "MemoryBackend",
    "RedisBackend",
    "Router",
    "RouterConfig",
    "StateBackend",
    "StateBackendError",
    "find_config_file",
    "load_config",
    "render_stats",
    "request_key",
]
