"""Gateway metrics in the Prometheus text exposition format (no client library needed).

Counters and a latency histogram, updated on the event loop (no locks: one thread)::

    lmux_gateway_requests_total{route,status}
    lmux_gateway_request_duration_seconds{route}   (histogram)
    lmux_gateway_in_flight_requests
    lmux_gateway_tokens_total{model,kind}          (kind: prompt | completion)
    lmux_gateway_cost_usd_total{key}
    lmux_gateway_key_requests_total{key}
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from decimal import Decimal

__all__ = ["CONTENT_TYPE", "Metrics"]

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
