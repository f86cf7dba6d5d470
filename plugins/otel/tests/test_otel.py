"""The OpenTelemetry plugin, discovered by entry point, against real providers.

Spans and metrics are read back from the SDK's in-memory exporter and reader; the calls
go to the offline ``echo`` provider and, over a real socket, to an OpenAI-format server on
127.0.0.1 through the openai plugin.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import lmux_plug_otel
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace import StatusCode

from lmux_plug import Registry
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.testing import MockProvider
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        lmux_plug_otel.configure(
            tracer_provider=tracer_provider, meter_provider=MeterProvider([self.reader])
        )

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    recorder = Recorded()
    yield recorder
    lmux_plug_otel.reset()


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry.from_entry_points() as registry:
        yield registry


def test_discovered_by_entry_point(registry: Registry) -> None:
    assert "otel" in [p.name for p in registry.plugins()]


def test_chat_span_and_metrics(registry: Registry, recorded: Recorded) -> None:
    response = registry.chat("echo/echo-1", "hello there", temperature=0.5, max_tokens=20)
    (span,) = recorded.finished()
    assert span.name == "chat echo-1"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "echo"
    assert attributes["gen_ai.request.model"] == "echo-1"
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["lmux_plug.cost"] == 0.0
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in recorded.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": response.usage.input_tokens, "output": response.usage.output_tokens}


def test_stream_records_time_to_first_chunk(registry: Registry, recorded: Recorded) -> None:
    chunks = list(registry.chat_stream("echo/echo-1", "one two three"))
    assert "".join(c.delta for c in chunks) == "one two three"
    (span,) = recorded.finished()
    attributes = dict(span.attributes)
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage.output_tokens
    (first,) = recorded.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    (gaps,) = recorded.points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == len(chunks) - 1  # one per chunk after the first
    assert gaps.attributes["gen_ai.operation.name"] == "chat"


def test_stream_closed_early_still_ends_the_span(registry: Registry, recorded: Recorded) -> None:
    stream = registry.chat_stream("echo/echo-1", "a b c d e f")
    next(iter(stream))
    stream.close()  # type: ignore[attr-defined]
    (span,) = recorded.finished()
    assert span.attributes["lmux_plug.stream.closed_early"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert span.status.status_code is not StatusCode.ERROR


def test_embeddings_span(registry: Registry, recorded: Recorded) -> None:
    registry.embed("echo/echo-1", ["a", "bb"], dimensions=4)
    (span,) = recorded.finished()
    assert span.name == "embeddings echo-1"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 4


def test_errors_over_a_real_socket(recorded: Recorded) -> None:
    with (
        FakeOpenAIServer(FaultPlan(faults={"429": 1.0})).run_in_thread() as server,
        Registry.from_entry_points() as registry,
    ):
        registry.configure("openai", base_url=server.url, api_key="sk-test-otel-0000")
        with pytest.raises(RateLimitError):
            registry.chat("openai/gpt-4o-mini", "hi")
    (span,) = recorded.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "429"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert "sk-test-otel" not in str(span.to_json())
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "429"


def test_a_real_provider_call_is_traced(recorded: Recorded) -> None:
    with FakeOpenAIServer().run_in_thread() as server, Registry.from_entry_points() as registry:
        registry.configure("openai", base_url=server.url, api_key="sk-test-otel-0000")
        response = registry.chat("openai/gpt-4o-mini", "hi")
        list(registry.chat_stream("openai/gpt-4o-mini", "streamed"))
    chat, stream = recorded.finished()
    assert chat.attributes["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert chat.attributes["lmux_plug.cost"] > 0  # priced from the declared table
    assert stream.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_nothing_recorded_without_providers(registry: Registry) -> None:
    lmux_plug_otel.reset()
    assert lmux_plug_otel._telemetry.telemetry() is None
    assert registry.chat("echo/echo-1", "quiet").content == "quiet"


def test_import_and_discovery_do_not_import_opentelemetry() -> None:
    code = (
        "import sys, lmux_plug; lmux_plug.Registry.from_entry_points(); "
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_async_chat_stream_and_embed(registry: Registry, recorded: Recorded) -> None:
    response = await registry.achat("echo/echo-1", "async hello")
    chunks = [chunk async for chunk in registry.achat_stream("echo/echo-1", "a b c")]
    await registry.aembed("echo/echo-1", ["x"])
    chat, stream, embed = recorded.finished()
    assert chat.name == "chat echo-1"
    assert chat.attributes["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert stream.attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage.output_tokens
    assert stream.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert embed.attributes["gen_ai.operation.name"] == "embeddings"
    operations = sorted(
        p.attributes["gen_ai.operation.name"]
        for p in recorded.points("gen_ai.client.operation.duration")
    )
    assert operations == ["chat", "embeddings"]  # chat and stream share one point
    (first,) = recorded.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1  # streams only
    (gaps,) = recorded.points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == len(chunks) - 1


@pytest.mark.parametrize("fault", ["stream-error", "truncate"])
def test_a_stream_cut_by_the_server_is_a_failed_span(recorded: Recorded, fault: str) -> None:
    with (
        FakeOpenAIServer(FaultPlan(faults={fault: 1.0})).run_in_thread() as server,
        Registry.from_entry_points() as registry,
    ):
        registry.configure("openai", base_url=server.url, api_key="test-key-otel-stream")
        with pytest.raises(ProviderError):
            list(registry.chat_stream("openai/gpt-4o-mini", "cut me"))
    (span,) = recorded.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"]
    assert "gen_ai.usage.output_tokens" not in span.attributes
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == span.attributes["error.type"]


def test_every_router_attempt_is_a_span(recorded: Recorded) -> None:
    with (
        FakeOpenAIServer(FaultPlan(retry_after=0.01)).run_in_thread() as server,
        Registry.from_entry_points() as registry,
    ):
        server.inject("503")
        model = LogicalModel("fast", [Deployment("openai/gpt-4o-mini", base_url=server.url)])
        router = Router(
            config=RouterConfig(models={"fast": model}, retries=1, backoff_base=0.001),
            registry=registry,
        )
        registry.configure("openai", api_key="test-key-otel-router")
        assert router.chat("fast", "hi").content == "echo: hi"
    failed, answered = recorded.finished()
    assert failed.attributes["error.type"] == "503"
    assert answered.status.status_code is not StatusCode.ERROR
    assert answered.attributes["gen_ai.request.model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("gemini", "gcp.gemini"), ("bedrock", "aws.bedrock"), ("vertex_ai", "gcp.vertex_ai")],
)
def test_provider_names_are_the_conventions_well_known_values(
    recorded: Recorded, prefix: str, expected: str
) -> None:
    with Registry.from_entry_points() as registry:
        # The plugin's own provider answered by a mock: the name is what counts here.
        registry.register(prefix, MockProvider(prefix, default="ok"), replace=True)
        registry.chat(f"{prefix}/some-model", "hi")
    (span,) = recorded.finished()
    assert span.attributes["gen_ai.provider.name"] == expected
    assert span.attributes["gen_ai.system"] == expected


def test_every_api_is_traced(registry: Registry, recorded: Recorded) -> None:
    answer = registry.create_response("echo/echo-1", "respond")
    list(registry.create_response_stream("echo/echo-1", "respond streamed"))
    completion = registry.complete("echo/echo-1", "complete me")
    list(registry.complete_stream("echo/echo-1", "complete streamed"))
    registry.register("audio", MockProvider("audio", default="words"), replace=True)
    registry.transcribe("audio/whisper", b"RIFF0000WAVE")
    list(registry.transcribe_stream("audio/whisper", b"RIFF0000WAVE"))
    spans = recorded.finished()
    assert [s.attributes["gen_ai.operation.name"] for s in spans] == [
        "chat",
        "chat",
        "text_completion",
        "text_completion",
        "transcription",
        "transcription",
    ]
    response, response_stream, complete, complete_stream, _, transcript_stream = spans
    assert response.attributes["gen_ai.usage.output_tokens"] == answer.usage.output_tokens
    assert response_stream.attributes["gen_ai.usage.output_tokens"] > 0  # from the last event
    assert complete.attributes["gen_ai.usage.output_tokens"] == completion.usage.output_tokens
    assert complete_stream.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    for streamed in (response_stream, complete_stream, transcript_stream):
        assert streamed.attributes["gen_ai.response.time_to_first_chunk"] >= 0


def test_every_call_hook_is_wrapped() -> None:
    from lmux_plug import hookspecs

    declarations = {"lmux_plug_providers", "lmux_plug_wires", "lmux_plug_pricing"}
    calls = {
        name
        for name in dir(hookspecs)
        if name.startswith("lmux_plug_") and name not in declarations | {"lmux_plug_auth"}
    }
    wrapped = {name for name in calls if hasattr(lmux_plug_otel, name)}
    assert wrapped == calls
    for name in calls:
        assert getattr(lmux_plug_otel, name).lmux_plug_impl["wrapper"] is True


GLOBAL_SETUP = """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

spans, reader, tracing = InMemorySpanExporter(), InMemoryMetricReader(), TracerProvider()
tracing.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracing)
metrics.set_meter_provider(MeterProvider([reader]))

import lmux_plug

lmux_plug.chat("echo/echo-1", "hi")
data = reader.get_metrics_data()
names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
print([s.name for s in spans.get_finished_spans()], sorted(names))
"""


def test_the_applications_global_providers_are_used() -> None:
    # As an application sets OpenTelemetry up: global providers, no lmux-plug call.
    out = subprocess.run(
        [sys.executable, "-c", GLOBAL_SETUP], capture_output=True, text=True, check=True
    )
    assert "['chat echo-1']" in out.stdout
    assert "gen_ai.client.operation.duration" in out.stdout
    assert "gen_ai.client.token.usage" in out.stdout
