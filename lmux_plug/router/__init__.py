"""The router and resilience layer: ``from lmux_plug.router import Router``.

Logical models over weighted pools of deployments, retries honouring ``Retry-After``,
fallback chains, circuit breakers, key pools, client-side rate limits, singleflight, a
two-tier cache and shared state (in memory or Redis). Not imported by ``import
lmux_plug``, so the core stays fast to import. See ``docs/router.md``.
"""

from __future__ import annotations

from lmux_plug.router.breaker import Breaker
from lmux_plug.router.cache import EXCLUDED_FIELDS
from lmux_plug.router.cache import request_key
from lmux_plug.router.config import ConfigProblem
from lmux_plug.router.config import ConfigSource
from lmux_plug.router.config import ConfigValidationError
from lmux_plug.router.config import Deployment
from lmux_plug.router.config import Limits
from lmux_plug.router.config import LogicalModel
from lmux_plug.router.config import RouterConfig
from lmux_plug.router.config import find_config_file
from lmux_plug.router.config import load_config
from lmux_plug.router.degrade import DegradingBackend
from lmux_plug.router.retry import Attempt
from lmux_plug.router.router import Router
from lmux_plug.router.state import MemoryBackend
from lmux_plug.router.state import RedisBackend
from lmux_plug.router.state import StateBackend
from lmux_plug.router.state import StateBackendError
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
