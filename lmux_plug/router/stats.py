"""Per-deployment and per-key counters, latency percentiles, tokens and cost.

Counts are per process; breaker states come from the shared backend when rendered.
:func:`render_stats` turns :meth:`Router.stats` into a text table for a CLI.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["Counters", "StatsBook", "render_stats"]

_SAMPLES = 1024


@attrs.define
class Counters:
    """What happened to calls through one deployment or one key."""

    requests: int = 0
    successes: int = 0
    rate_limited: int = 0
    failures: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    inflight: int = 0
    ewma_latency: float = 0.0
    latencies: deque[float] = attrs.field(factory=lambda: deque(maxlen=_SAMPLES))

    def percentile(self, fraction: float) -> float | None:
        """Latency percentile in seconds over the last samples (``None`` without samples)."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for :meth:`Router.stats`."""
        return {
            "requests": self.requests,
            "successes": self.successes,
            "rate_limited": self.rate_limited,
            "failures": self.failures,
            "retries": self.retries,
            "inflight": self.inflight,
            "latency_p50": self.percentile(0.5),
            "latency_p95": self.percentile(0.95),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost,
        }


class StatsBook:
    """All counters of a router, by deployment id and by (deployment id, key fingerprint)."""

    def __init__(self) -> None:
        self.deployments: dict[str, Counters] = {}
        self.keys: dict[tuple[str, str], Counters] = {}

    def deployment(self, name: str) -> Counters:
        """The counters of ``name`` (created on first use)."""
        found = self.deployments.get(name)
        if found is None:
            found = self.deployments[name] = Counters()
        return found

    def key(self, deployment: str, fp: str) -> Counters:
        """The counters of one key of ``deployment``."""
        found = self.keys.get((deployment, fp))
        if found is None:
            found = self.keys[deployment, fp] = Counters()
        return found

    def busy(self, name: str) -> int:
        """Calls in flight on ``name``."""
        found = self.deployments.get(name)
        return 0 if found is None else found.inflight

    def latency(self, name: str) -> float:
        """Moving-average latency of ``name`` (0 when untried)."""
        found = self.deployments.get(name)
        return 0.0 if found is None else found.ewma_latency


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value * 1000:.1f}ms"
    return str(value)


def render_stats(stats: dict[str, Any]) -> str:
    """Render :meth:`Router.stats` as a fixed-width text table (deployments, then keys)."""
    columns = [
        "requests",
        "successes",
        "rate_limited",
        "failures",
        "retries",
        "latency_p50",
        "latency_p95",
    ]
    header = ["deployment", "breaker", *columns, "tokens", "cost"]
    rows = [header]
    for name, entry in sorted(stats.get("deployments", {}).items()):
        tokens = entry["input_tokens"] + entry["output_tokens"]
        breaker = entry.get("breaker", {}).get("state", "-")
        rows.append(
            [name, breaker, *(_fmt(entry[c]) for c in columns), str(tokens), str(entry["cost"])]
        )
        for fp, key_entry in sorted(entry.get("keys", {}).items()):
            key_tokens = key_entry["input_tokens"] + key_entry["output_tokens"]
            status = "evicted" if key_entry.get("evicted") else "ok"
            rows.append(
                [
                    f"  key {fp}",
                    status,
                    *(_fmt(key_entry[c]) for c in columns),
                    str(key_tokens),
                    str(key_entry["cost"]),
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
