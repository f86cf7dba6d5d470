"""Gateway metrics in the Prometheus text format, through ``prometheus-client``.

::

    lmux_gateway_requests_total{route,status}
    lmux_gateway_request_duration_seconds{route}   (histogram)
    lmux_gateway_in_flight_requests
    lmux_gateway_tokens_total{model,kind}          (kind: prompt | completion)
    lmux_gateway_cost_usd_total{key}
    lmux_gateway_key_requests_total{key}

Label values are bounded: ``route`` is one of the gateway's routes, ``key`` a configured
key name (or ``anonymous``), and ``model`` a declared model, router model or alias; any
other model name a client sends is counted under ``other``, so clients cannot grow the
metrics (or the process) by inventing names.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``lmux-plug serve --workers N`` sets it), every
worker writes its samples there and ``/metrics`` answers the sum over the workers
(prometheus-client's multiprocess mode). With a router, its per-deployment counters
follow (``lmux_router_*``, see :func:`render_router`), for configured deployments (others
fold into ``deployment="other"``), labelled by name or model, never by base URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["CONTENT_TYPE", "OTHER", "Metrics", "deployment_labels", "render_router"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
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


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Samples:
    """Read-only ``view[label values]`` of one metric's samples (0.0 when absent)."""

    def __init__(self, registry: Any, name: str, labels: tuple[str, ...]) -> None:
        self._registry, self._name, self._labels = registry, name, labels

    def __getitem__(self, values: tuple[str, ...]) -> float:
        labels = dict(zip(self._labels, values, strict=True))
        found = self._registry.get_sample_value(self._name, labels)
        return float(found or 0.0)


class Metrics:
    """The gateway's counters (prometheus-client); :meth:`render` writes the exposition text.

    ``known_models()`` returns the model names that get their own label value; ``keys``
    are the configured key names.
    """

    def __init__(
        self,
        *,
        known_models: Callable[[], Collection[str]] = frozenset,
        keys: Collection[str] = (),
    ) -> None:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415 - optional extra "gateway"
        from prometheus_client import Counter  # noqa: PLC0415 - optional extra "gateway"
        from prometheus_client import Gauge  # noqa: PLC0415 - optional extra "gateway"
        from prometheus_client import Histogram  # noqa: PLC0415 - optional extra "gateway"

        self._known_models = known_models
        self._keys = frozenset(keys)
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._requests = Counter(
            "lmux_gateway_requests",
            "HTTP requests by route and status.",
            ("route", "status"),
            registry=registry,
        )
        self._durations = Histogram(
            "lmux_gateway_request_duration_seconds",
            "Time to answer a request.",
            ("route",),
            buckets=_BUCKETS,
            registry=registry,
        )
        self._in_flight_gauge = Gauge(
            "lmux_gateway_in_flight_requests",
            "Requests being served now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._tokens = Counter(
            "lmux_gateway_tokens", "Tokens by model and kind.", ("model", "kind"), registry=registry
        )
        self._cost = Counter(
            "lmux_gateway_cost_usd",
            "Cost in US dollars by virtual key.",
            ("key",),
            registry=registry,
        )
        self._key_requests = Counter(
            "lmux_gateway_key_requests", "Model calls by virtual key.", ("key",), registry=registry
        )
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests being served now by this process."""
        return self._in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._in_flight = value
        self._in_flight_gauge.set(value)

    @property
    def tokens(self) -> _Samples:
        """Tokens counted so far in this process: ``tokens[model, kind]`` (0 if none)."""
        return _Samples(self.registry, "lmux_gateway_tokens_total", ("model", "kind"))

    def model_label(self, model: str) -> str:
        """``model`` if it is a known model name, else ``"other"``."""
        return model if model in self._known_models() else OTHER

    def key_label(self, key: str) -> str:
        """``key`` if it is a configured key name (or ``anonymous``), else ``"other"``."""
        return key if key in self._keys or key == "anonymous" else OTHER

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request (``route`` is one of the gateway's own)."""
        self._requests.labels(route, str(status)).inc()
        self._durations.labels(route).observe(seconds)

    def usage(self, model: str, prompt: int, completion: int) -> None:
        """Count tokens of one call."""
        label = self.model_label(model)
        self._tokens.labels(label, "prompt").inc(prompt)
        self._tokens.labels(label, "completion").inc(completion)

    def spend(self, key: str, cost: Decimal | None) -> None:
        """Count a key's request and its cost."""
        label = self.key_label(key)
        self._key_requests.labels(label).inc()
        if cost is not None:
            self._cost.labels(label).inc(float(cost))

    def render(self) -> str:
        """The metrics in Prometheus text format 0.0.4 (summed over workers if multiprocess)."""
        from prometheus_client import CollectorRegistry  # noqa: PLC0415
        from prometheus_client import generate_latest  # noqa: PLC0415

        path = _multiprocess_dir()
        if path is None:
            return generate_latest(self.registry).decode()
        from prometheus_client import multiprocess  # noqa: PLC0415

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(merged).decode()


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


def deployment_labels(deployments: Iterable[Any]) -> dict[str, str]:
    """``{deployment id: label}`` for configured router deployments.

    A deployment's id is its ``name``, else ``model@base_url``: a base URL names an
    internal host and may carry credentials, so it never becomes a label. The label is the
    name, else the model, numbered (``model#2``) when the model has several deployments.
    """
    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    for deployment in deployments:
        if deployment.id in labels:
            continue
        if getattr(deployment, "name", None):
            labels[deployment.id] = str(deployment.name)
            continue
        model = str(deployment.model)
        seen[model] = seen.get(model, 0) + 1
        labels[deployment.id] = model if seen[model] == 1 else f"{model}#{seen[model]}"
    return labels


def _fold(deployments: dict[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """Deployments renamed to their labels; those without one summed as ``other``."""
    out = {labels[d]: entry for d, entry in deployments.items() if d in labels}
    rest = [entry for d, entry in deployments.items() if d not in labels]
    if rest:
        other: dict[str, Any] = {}
        for field, _ in _ROUTER_COUNTERS:
            other[field] = sum(entry.get(field, 0) or 0 for entry in rest)
        other["cost"] = sum((Decimal(str(entry.get("cost", 0) or 0)) for entry in rest), Decimal(0))
        other["inflight"] = sum(entry.get("inflight", 0) or 0 for entry in rest)
        out[OTHER] = other
    return out


def _per_deployment(
    name: str, kind: str, help_text: str, deployments: Mapping[str, Any], field: str
) -> list[str]:
    """A metric with one sample per deployment (its ``field``, 0 if absent)."""
    samples = (
        f'{name}{{deployment="{_label(d)}"}} {entry.get(field, 0)}'
        for d, entry in sorted(deployments.items())
    )
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render_router(stats: dict[str, Any], labels: Mapping[str, str]) -> str:
    """A router's ``stats()`` / ``astats()`` dict in Prometheus text format.

    Per deployment: the counters above as ``lmux_router_<name>_total``, ``cost_usd_total``,
    ``inflight``, latency p50/p95 in seconds, and the breaker state as a 0/1 gauge per
    state; then the response cache's hits and misses. ``labels`` maps configured deployment
    ids to their labels (:func:`deployment_labels`); every other deployment is summed into
    ``deployment="other"``.
    """
    deployments = _fold(stats.get("deployments", {}), labels)
    lines: list[str] = []
    for field, help_text in _ROUTER_COUNTERS:
        name = f"lmux_router_{field}_total"
        lines += _per_deployment(name, "counter", help_text, deployments, field)
    lines += _per_deployment(
        "lmux_router_cost_usd_total", "counter", "Cost in US dollars.", deployments, "cost"
    )
    lines += _per_deployment(
        "lmux_router_inflight", "gauge", "Calls in flight.", deployments, "inflight"
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
