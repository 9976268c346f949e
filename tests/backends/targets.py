"""A started backend as a test sees it: where to send OTLP, and a fresh place (Phoenix project, MLflow experiment)
whose spans can be read back, so each test reads only its own."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .install import MLFLOW
from .readback import MlflowReader, PhoenixReader, ShownSpan
from .servers import BackendProcess

# Phoenix files spans under the project named by this resource attribute ("default" without it).
PHOENIX_PROJECT_ATTRIBUTE = "openinference.project.name"
# MLflow files spans under the experiment named by this OTLP header ("0" is the default experiment).
MLFLOW_EXPERIMENT_HEADER = "x-mlflow-experiment-id"


@dataclass(frozen=True)
class Destination:
    """One project or experiment: the resource attributes and OTLP headers that route spans there, and its spans."""

    label: str
    resource: dict[str, str]
    headers: dict[str, str]
    read: Callable[[], list[ShownSpan]] = field(repr=False)

    def span(self, span_id: str) -> ShownSpan | None:
        """What the backend shows for one span (by its 16 hex digits), or None if it has not got it."""
        return next((span for span in self.read() if span.span_id == span_id), None)


class Target(ABC):
    """A healthy backend process with its reader."""

    name = ""

    def __init__(self, process: BackendProcess) -> None:
        self.process = process

    @property
    def endpoint(self) -> str:
        """The OTLP/HTTP base URL (`/v1/traces` is added by the exporter)."""
        return self.process.base_url

    @abstractmethod
    def destination(self, label: str) -> Destination:
        """A new, empty place for spans (Phoenix project, MLflow experiment) named `label`."""

    @abstractmethod
    def close(self) -> None:
        """Stop what the reader started (the process itself is stopped by its fixture)."""

    def warm_up(self) -> None:
        """Send one span and wait for it: a cold server's first export can outlast the exporter's 10 s timeout."""
        destination = self.destination("warm-up")
        exporter = OTLPSpanExporter(endpoint=f"{self.endpoint}/v1/traces", headers=destination.headers, timeout=120)
        ledger = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "warm-up", **destination.resource}))
        provider.add_span_processor(SimpleSpanProcessor(ledger))
        provider.get_tracer("warm-up").start_span("warm-up").end()
        result = exporter.export(ledger.get_finished_spans())
        exporter.shutdown()  # type: ignore[no-untyped-call]
        provider.shutdown()
        if result is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"{self.name} did not take a warm-up span:\n{self.process.log_tail()}")


class PhoenixTarget(Target):
    name = "phoenix"

    def __init__(self, process: BackendProcess) -> None:
        super().__init__(process)
        self.reader = PhoenixReader(process.base_url)

    def destination(self, label: str) -> Destination:
        return Destination(label, {PHOENIX_PROJECT_ATTRIBUTE: label}, {}, lambda: self.reader.spans(label))

    def close(self) -> None:
        """Nothing to stop: GraphQL is read over plain HTTP requests."""


class MlflowTarget(Target):
    name = "mlflow"

    def __init__(self, process: BackendProcess) -> None:
        super().__init__(process)
        self.reader = MlflowReader(MLFLOW.python(), process.base_url)

    def destination(self, label: str) -> Destination:
        experiment = self.reader.create_experiment(label)
        return Destination(label, {}, {MLFLOW_EXPERIMENT_HEADER: experiment}, lambda: self.reader.spans(experiment))

    def close(self) -> None:
        self.reader.close()
