"""Spans and metrics of one call, named as the OpenTelemetry GenAI semantic conventions say.

:func:`telemetry` answers ``None`` (the wrapper then does nothing) until the application
has set a global tracer or meter provider, or called :func:`configure`; so an installed
but unconfigured plugin costs one check per call.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug import calculate_cost

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable

    from lmux_plug import ChatChunk
    from lmux_plug import ChatResponse
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ProviderContext
    from lmux_plug import Usage

__all__ = ["Telemetry", "configure", "reset", "telemetry"]

T = TypeVar("T")

_INSTRUMENTATION = "lmux_plug_otel"
# Explicit bucket boundaries the conventions recommend for these histograms.
_TOKEN_BUCKETS = tuple(4**n for n in range(14))  # 1, 4, 16, ... 67108864
_SECONDS_BUCKETS = tuple(0.01 * 2**n for n in range(14))  # 0.01, 0.02, ... 81.92
# Gaps between chunks are short: the boundaries of the conventions' per-token server metric.
_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

# The conventions' well-known ``gen_ai.provider.name`` values, which MUST be used where one
# applies, for the providers whose lmux-plug prefix differs; other prefixes are used as is.
_PROVIDER_NAMES = {
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "vertex_ai": "gcp.vertex_ai",
    "xai": "x_ai",
}
# ``gen_ai.system`` (conventions before 1.37) spelt xAI without the underscore.
_SYSTEM_NAMES = {**_PROVIDER_NAMES, "xai": "xai"}

# The conventions' client histograms: name, unit, description, bucket boundaries.
_HISTOGRAMS = (
    ("gen_ai.client.operation.duration", "s", "GenAI operation duration.", _SECONDS_BUCKETS),
    (
        "gen_ai.client.token.usage",
        "{token}",
        "Number of input and output tokens used.",
        _TOKEN_BUCKETS,
    ),
    (
        "gen_ai.client.operation.time_to_first_chunk",
        "s",
        "Time from the request to the first chunk of a streamed answer.",
        _SECONDS_BUCKETS,
    ),
    (
        "gen_ai.client.operation.time_per_output_chunk",
        "s",
        "Time between two chunks of a streamed answer, for each chunk after the first.",
        _CHUNK_BUCKETS,
    ),
)

_lock = threading.Lock()
_explicit: dict[str, Any] = {}
_cache: dict[str, Any] = {}


def configure(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Use these providers instead of the global ones (either may be ``None``)."""
    with _lock:
        _explicit.clear()
        _explicit.update(tracer_provider=tracer_provider, meter_provider=meter_provider)
        _cache.clear()


def reset() -> None:
    """Forget :func:`configure`: follow the global providers again."""
    with _lock:
        _explicit.clear()
        _cache.clear()


# The global providers are looked up at most this often (seconds): they are set once, at
# start-up, and the lookup would otherwise cost every call a few microseconds.
_RECHECK = 1.0


def telemetry() -> Telemetry | None:
    """The recorder for the current providers, or ``None`` when none is set."""
    if not _explicit:
        now = time.monotonic()
        if now < _cache.get("until", 0.0):
            found: Telemetry | None = _cache.get("current")
            return found
        _cache["until"] = now + _RECHECK
    from opentelemetry import metrics  # noqa: PLC0415 - not at plugin discovery
    from opentelemetry import trace  # noqa: PLC0415 - not at plugin discovery

    if _explicit:
        tracer_provider = _explicit.get("tracer_provider")
        meter_provider = _explicit.get("meter_provider")
    else:
        tracer_provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        if isinstance(tracer_provider, trace.ProxyTracerProvider):
            tracer_provider = None
        if type(meter_provider).__name__ == "_ProxyMeterProvider":  # no global one set yet
            meter_provider = None
    if tracer_provider is None and meter_provider is None:
        _cache["current"] = None
        return None
    key = (id(tracer_provider), id(meter_provider))
    current: Telemetry | None = _cache.get("current")
    if current is None or current.key != key:
        with _lock:
            current = Telemetry(tracer_provider, meter_provider, key)
            _cache["current"] = current
    return current


class Telemetry:
    """The tracer and instruments of one pair of providers."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, key: tuple[int, int]) -> None:
        from opentelemetry import trace  # noqa: PLC0415

        from lmux_plug_otel import __name__ as scope  # noqa: PLC0415

        self.key = key
        self._trace = trace
        self.tracer = tracer_provider.get_tracer(scope) if tracer_provider is not None else None
        self.duration = self.tokens = self.first_chunk = self.per_chunk = self.cost = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(_INSTRUMENTATION)
            self.duration, self.tokens, self.first_chunk, self.per_chunk = (
                meter.create_histogram(
                    name,
                    unit=unit,
                    description=description,
                    explicit_bucket_boundaries_advisory=list(buckets),
                )
                for name, unit, description, buckets in _HISTOGRAMS
            )
            self.cost = meter.create_counter(
                "lmux_plug.client.cost", unit="USD", description="Price of the calls made."
            )

    # -- spans ------------------------------------------------------------------------------

    def _start(self, operation: str, request: Any, provider: ProviderContext) -> Any:
        if self.tracer is None:
            return None
        return self.tracer.start_span(
            f"{operation} {request.model}",
            kind=self._trace.SpanKind.CLIENT,
            attributes=_request_attributes(operation, request, provider),
        )

    def failed_at_once(
        self, operation: str, request: Any, provider: ProviderContext, exc: BaseException
    ) -> None:
        """The owner raised instead of returning an awaitable: a zero-length failed call."""
        span = self._start(operation, request, provider)
        self._fail(span, operation, request, provider, exc, time.perf_counter())

    def _fail(  # noqa: PLR0917 - one call's parts, passed on together
        self,
        span: Any,
        operation: str,
        request: Any,
        provider: ProviderContext,
        exc: BaseException,
        started: float,
    ) -> None:
        error_type = _error_type(exc)
        if span is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(exc)[:500]))
            span.end()
        if self.duration is not None:
            labels = _metric_attributes(operation, request, provider, None)
            labels["error.type"] = error_type
            self.duration.record(time.perf_counter() - started, labels)

    def _succeed(  # noqa: PLR0917 - one call's parts, passed on together
        self,
        span: Any,
        operation: str,
        request: Any,
        provider: ProviderContext,
        answer: ChatResponse | EmbeddingResponse | ChatChunk | None,
        usage: Usage | None,
        started: float,
    ) -> None:
        elapsed = time.perf_counter() - started
        response_model = getattr(answer, "model", None) or request.model
        cost = _cost(answer, usage, request, provider)
        if span is not None:
            span.set_attribute("gen_ai.response.model", response_model)
            request_id = getattr(answer, "request_id", None)
            if request_id:
                span.set_attribute("gen_ai.response.id", request_id)
            finish = getattr(answer, "finish_reason", None)
            if finish is not None:
                span.set_attribute("gen_ai.response.finish_reasons", [finish.value])
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if cost is not None:
                span.set_attribute("lmux_plug.cost", cost)
            span.end()
        if self.duration is None:
            return
        labels = _metric_attributes(operation, request, provider, response_model)
        self.duration.record(elapsed, labels)
        if usage is not None and self.tokens is not None:
            self.tokens.record(usage.input_tokens, {**labels, "gen_ai.token.type": "input"})
            if operation != "embeddings":
                self.tokens.record(usage.output_tokens, {**labels, "gen_ai.token.type": "output"})
        if cost is not None and self.cost is not None:
            self.cost.add(cost, labels)

    # -- the call kinds -----------------------------------------------------------------------

    def call(
        self, operation: str, awaitable: Awaitable[T], request: Any, provider: ProviderContext
    ) -> Awaitable[T]:
        """An awaitable of the same answer that records the call around it."""
        return self._call(operation, awaitable, request, provider)

    async def _call(
        self, operation: str, awaitable: Awaitable[Any], request: Any, provider: ProviderContext
    ) -> Any:
        started = time.perf_counter()
        span = self._start(operation, request, provider)
        try:
            answer = await awaitable
        except BaseException as exc:
            self._fail(span, operation, request, provider, exc, started)
            raise
        self._succeed(span, operation, request, provider, answer, answer.usage, started)
        return answer

    async def stream(
        self, operation: str, iterator: AsyncIterator[T], request: Any, provider: ProviderContext
    ) -> AsyncIterator[T]:
        """The same chunks, recording time to first chunk and the usage at the end.

        Chunks of every streamed API are read alike: ``model``, ``usage`` and
        ``finish_reason`` where a chunk has them, and the whole answer the last chunk of a
        Responses or transcription stream carries (``response``).
        """
        started = time.perf_counter()
        span = self._start(operation, request, provider)
        first_at: float | None = None
        previous = started
        labels: dict[str, Any] = {}
        usage: Usage | None = None
        last: Any = None
        try:
            async for chunk in iterator:
                now = time.perf_counter()
                if first_at is None:
                    first_at = now - started
                    # On the span at once: a stream that fails or is left later keeps it.
                    if span is not None:
                        span.set_attribute("gen_ai.response.time_to_first_chunk", first_at)
                    if self.first_chunk is not None:
                        model = getattr(chunk, "model", None)
                        labels = _metric_attributes(operation, request, provider, model)
                        self.first_chunk.record(first_at, labels)
                elif self.per_chunk is not None:
                    self.per_chunk.record(now - previous, labels)
                previous = now
                whole = getattr(chunk, "response", None)  # the whole answer, at the end
                chunk_usage = getattr(chunk, "usage", None) or getattr(whole, "usage", None)
                usage = chunk_usage or usage
                if whole is not None:
                    last = whole
                elif getattr(chunk, "finish_reason", None) is not None or chunk_usage is not None:
                    last = chunk
                yield chunk
        except GeneratorExit:
            # The caller stopped reading: the call ends here, unfinished but not failed.
            if span is not None:
                span.set_attribute("lmux_plug.stream.closed_early", True)  # noqa: FBT003
            self._succeed(span, operation, request, provider, last, usage, started)
            raise
        except BaseException as exc:
            self._fail(span, operation, request, provider, exc, started)
            raise
        else:
            self._succeed(span, operation, request, provider, last, usage, started)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()


# -- attributes ----------------------------------------------------------------------------


def _request_attributes(operation: str, request: Any, provider: ProviderContext) -> dict[str, Any]:
    attributes = _metric_attributes(operation, request, provider, None)
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, name, None)
        if value is not None:
            attributes[f"gen_ai.request.{name}"] = value
    stop = getattr(request, "stop", None)
    if stop:
        attributes["gen_ai.request.stop_sequences"] = list(stop)
    dimensions = getattr(request, "dimensions", None)
    if dimensions is not None:
        attributes["gen_ai.embeddings.dimension.count"] = dimensions
    return attributes


def _metric_attributes(
    operation: str, request: Any, provider: ProviderContext, response_model: str | None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _PROVIDER_NAMES.get(provider.name, provider.name),
        # The attribute's name before semantic conventions 1.37, for older backends.
        "gen_ai.system": _SYSTEM_NAMES.get(provider.name, provider.name),
        "gen_ai.request.model": request.model,
    }
    if response_model:
        attributes["gen_ai.response.model"] = response_model
    from urllib.parse import urlsplit  # noqa: PLC0415 - only once telemetry is on; fast discovery

    parts = urlsplit(provider.base_url)
    if parts.hostname:
        attributes["server.address"] = parts.hostname
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        if port is not None:
            attributes["server.port"] = port
    return attributes


def _error_type(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return str(status)
    return type(exc).__name__


def _cost(
    answer: Any, usage: Usage | None, request: Any, provider: ProviderContext
) -> float | None:
    """The call's price in USD: the answer's, else from the declared price of the model."""
    cost = getattr(answer, "cost", None)
    if cost is None and usage is not None:
        model = provider.spec.model(request.model)
        pricing = model.pricing if model is not None else None
        if pricing is not None:
            cost = calculate_cost(usage, pricing)
    return None if cost is None else float(cost.total)
