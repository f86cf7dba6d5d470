"""Gateway metrics in the Prometheus text exposition format (no client library needed).

Counters and a latency histogram, updated on the event loop (no locks: one thread)::

    lmux_gateway_requests_total{route,status}
    lmux_gateway_request_duration_seconds{route}   (histogram)
    lmux_gateway_in_flight_requests
    lmux_gateway_tokens_total{model,kind}          (kind: prompt | completion)
    lmux_gateway_cost_usd_total{key}
    lmux_gateway_key_requests_total{key}

With a router, its per-deployment counters follow (``lmux_router_*``, see
:func:`render_router`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from decimal import Decimal
from typing import Any

__all__ = ["CONTENT_TYPE", "Metrics", "render_router"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(_BUCKETS)
        self.sum = 0.0
        self.total = 0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(_BUCKETS, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.sum += value
        self.total += 1


class Metrics:
    """The gateway's counters; :meth:`render` writes the exposition text."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.durations: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.tokens: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.cost: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.key_requests: defaultdict[str, int] = defaultdict(int)
        self.in_flight = 0

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests[route, status] += 1
        self.durations[route].observe(seconds)

    def usage(self, model: str, prompt: int, completion: int) -> None:
        """Count tokens of one call."""
        self.tokens[model, "prompt"] += prompt
        self.tokens[model, "completion"] += completion

    def spend(self, key: str, cost: Decimal | None) -> None:
        """Count a key's request and its cost."""
        self.key_requests[key] += 1
        if cost is not None:
            self.cost[key] += cost

    def render(self) -> str:
        """The metrics in Prometheus text format 0.0.4."""
        lines = [
            "# HELP lmux_gateway_requests_total HTTP requests by route and status.",
            "# TYPE lmux_gateway_requests_total counter",
        ]
        lines.extend(
            f'lmux_gateway_requests_total{{route="{_label(r)}",status="{s}"}} {n}'
            for (r, s), n in sorted(self.requests.items())
        )
        lines += [
            "# HELP lmux_gateway_request_duration_seconds Time to answer a request.",
            "# TYPE lmux_gateway_request_duration_seconds histogram",
        ]
        name = "lmux_gateway_request_duration_seconds"
        for route, histogram in sorted(self.durations.items()):
            label = _label(route)
            running = 0
            for bound, count in zip(_BUCKETS, histogram.counts, strict=True):
                running += count
                lines.append(f'{name}_bucket{{route="{label}",le="{bound}"}} {running}')
            lines.append(f'{name}_bucket{{route="{label}",le="+Inf"}} {histogram.total}')
            lines.append(f'{name}_sum{{route="{label}"}} {histogram.sum}')
            lines.append(f'{name}_count{{route="{label}"}} {histogram.total}')
        lines += [
            "# HELP lmux_gateway_in_flight_requests Requests being served now.",
            "# TYPE lmux_gateway_in_flight_requests gauge",
            f"lmux_gateway_in_flight_requests {self.in_flight}",
            "# HELP lmux_gateway_tokens_total Tokens by model and kind.",
            "# TYPE lmux_gateway_tokens_total counter",
        ]
        lines.extend(
            f'lmux_gateway_tokens_total{{model="{_label(m)}",kind="{k}"}} {n}'
            for (m, k), n in sorted(self.tokens.items())
        )
        lines += [
            "# HELP lmux_gateway_cost_usd_total Cost in US dollars by virtual key.",
            "# TYPE lmux_gateway_cost_usd_total counter",
        ]
        lines.extend(
            f'lmux_gateway_cost_usd_total{{key="{_label(k)}"}} {v}'
            for k, v in sorted(self.cost.items())
        )
        lines += [
            "# HELP lmux_gateway_key_requests_total Model calls by virtual key.",
            "# TYPE lmux_gateway_key_requests_total counter",
        ]
        lines.extend(
            f'lmux_gateway_key_requests_total{{key="{_label(k)}"}} {n}'
            for k, n in sorted(self.key_requests.items())
        )
        return "\n".join(lines) + "\n"


_ROUTER_COUNTERS = (
    ("requests", "Calls sent to the deployment."),
    ("successes", "Calls that succeeded."),
    ("rate_limited", "Calls refused with a rate limit."),
    ("failures", "Calls that failed otherwise."),
    ("retries", "Retries of calls."),
    ("input_tokens", "Prompt tokens."),
    ("output_tokens", "Completion tokens."),
)
_BREAKER_STATES = ("closed", "half-open", "open")


def render_router(stats: dict[str, Any]) -> str:
    """A router's ``stats()`` / ``astats()`` dict in Prometheus text format.

    Per deployment: the counters above as ``lmux_router_<name>_total``, ``cost_usd_total``,
    ``inflight``, latency p50/p95 in seconds, and the breaker state as a 0/1 gauge per
    state; then the response cache's hits and misses.
    """
    deployments: dict[str, Any] = stats.get("deployments", {})
    lines: list[str] = []
    for field, help_text in _ROUTER_COUNTERS:
        name = f"lmux_router_{field}_total"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines.extend(
            f'{name}{{deployment="{_label(d)}"}} {entry.get(field, 0)}'
            for d, entry in sorted(deployments.items())
        )
    lines += [
        "# HELP lmux_router_cost_usd_total Cost in US dollars.",
        "# TYPE lmux_router_cost_usd_total counter",
    ]
    lines.extend(
        f'lmux_router_cost_usd_total{{deployment="{_label(d)}"}} {entry.get("cost", 0)}'
        for d, entry in sorted(deployments.items())
    )
    lines += ["# HELP lmux_router_inflight Calls in flight.", "# TYPE lmux_router_inflight gauge"]
    lines.extend(
        f'lmux_router_inflight{{deployment="{_label(d)}"}} {entry.get("inflight", 0)}'
        for d, entry in sorted(deployments.items())
    )
    lines += [
        "# HELP lmux_router_latency_seconds Latency percentiles over recent calls.",
        "# TYPE lmux_router_latency_seconds gauge",
    ]
    for d, entry in sorted(deployments.items()):
        label = _label(d)
        for quantile, field in (("0.5", "latency_p50"), ("0.95", "latency_p95")):
            value = entry.get(field)
            if value is not None:
                where = f'deployment="{label}",quantile="{quantile}"'
                lines.append(f"lmux_router_latency_seconds{{{where}}} {value}")
    lines += [
        "# HELP lmux_router_breaker_state Circuit breaker state (1 for the current one).",
        "# TYPE lmux_router_breaker_state gauge",
    ]
    for d, entry in sorted(deployments.items()):
        current = (entry.get("breaker") or {}).get("state", "closed")
        label = _label(d)
        for state in _BREAKER_STATES:
            where = f'deployment="{label}",state="{state}"'
            lines.append(f"lmux_router_breaker_state{{{where}}} {int(state == current)}")
    cache = stats.get("cache") or {}
    lines += [
        "# HELP lmux_router_cache_total Response cache lookups by result.",
        "# TYPE lmux_router_cache_total counter",
        f'lmux_router_cache_total{{result="hit"}} {cache.get("hits", 0)}',
        f'lmux_router_cache_total{{result="miss"}} {cache.get("misses", 0)}',
    ]
    return "\n".join(lines) + "\n"
