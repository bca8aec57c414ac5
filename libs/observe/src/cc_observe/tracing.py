"""OpenTelemetry traces: set-up from the standard `OTEL_*` variables, and the trace context
across NATS.

    tracing = setup_tracing("planner")   # once, at process start: an SDK provider, or nothing
    ...
    tracing.shutdown()                   # in the stop path: flushes the spans still queued

Tracing is on when an OTLP endpoint is given (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp` for the default
`http://localhost:4318`); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off.
Off, no SDK provider is installed: every span below is the API's no-op, and messages carry
no trace headers. Spans are exported over OTLP/HTTP (protobuf) by a `BatchSpanProcessor`
(`OTEL_BSP_*`); the exporter reads its own `OTEL_EXPORTER_OTLP_*` (headers, timeout,
compression). `service.name` is the service's own unless `OTEL_SERVICE_NAME` (or
`service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says otherwise.

Across NATS the W3C `traceparent` (and `tracestate`) travel as message headers: `inject`
on publish, `extract` when a message is handled. A message without them (an old writer's, a
replayed or hand-made one) simply starts a new trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

TRACER_NAME = "commandcenter"

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_UNKNOWN_SERVICE = "unknown_service"

Attributes = Mapping[str, AttributeValue]


# --- set-up -------------------------------------------------------------------------------------
def tracing_wanted(env: Mapping[str, str]) -> bool:
    """Whether the `OTEL_*` variables in `env` ask for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",")}
    if "none" in exporters:
        return False
    return "otlp" in exporters or any(env.get(name, "").strip() for name in _ENDPOINTS)


def service_resource(service_name: str) -> Resource:
    """The process's resource: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` as the SDK
    reads them, with `service_name` when neither names the service."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if not named or named.startswith(_UNKNOWN_SERVICE):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    return resource


@dataclass(frozen=True)
class Tracing:
    """What `setup_tracing` installed; `shutdown` ends it (idempotent, never raises)."""

    provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        """Export what is still queued and stop the exporter's thread."""
        if self.provider is None:
            return
        try:
            self.provider.shutdown()
        except Exception:  # a collector that is away must not fail a clean stop
            log.warning("flushing the traces failed", exc_info=True)


def setup_tracing(service_name: str, env: Mapping[str, str] | None = None) -> Tracing:
    """Install the global tracer provider when the `OTEL_*` variables ask for traces (see the
    module's doc); otherwise nothing, and tracing stays the API's no-op."""
    env = os.environ if env is None else env
    if not tracing_wanted(env):
        return Tracing()
    # Imported only here: a process without tracing never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    if protocol and protocol.strip() != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: traces are sent as http/protobuf", protocol)
    provider = TracerProvider(resource=service_resource(service_name))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info(
        "tracing on: OTLP/HTTP to %s as %s",
        next((env[n] for n in _ENDPOINTS if env.get(n)), "http://localhost:4318"),
        provider.resource.attributes.get("service.name"),
    )
    return Tracing(provider)


# --- spans --------------------------------------------------------------------------------------
def tracer() -> trace.Tracer:
    """The services' tracer (the global provider's; a no-op one while tracing is off)."""
    return trace.get_tracer(TRACER_NAME)


@contextmanager
def span(
    name: str, attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span, current for the block (a child of the current one); an error ends it with the
    exception recorded."""
    with tracer().start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


@contextmanager
def producer_span(name: str, attributes: Attributes | None = None) -> Iterator[Span]:
    """The span of sending a message: what is published in it carries its context."""
    with span(name, attributes, kind=SpanKind.PRODUCER) as current:
        yield current


def annotate(attributes: Attributes) -> None:
    """Add attributes to the current span (nothing outside a trace)."""
    trace.get_current_span().set_attributes(attributes)


@contextmanager
def consumer_span(
    name: str, headers: Mapping[str, str] | None, attributes: Attributes | None = None
) -> Iterator[Span]:
    """The span of handling one message: a child of the context its headers carry, or the root
    of a new trace when they carry none."""
    parent = extract(headers)
    with tracer().start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as current:
        yield current


@contextmanager
def within(current: Span) -> Iterator[None]:
    """Make `current` (ended or not) the current span again for a block: what is published
    there belongs to its trace. It is not ended on the way out."""
    with trace.use_span(current, end_on_exit=False):
        yield


# --- the trace context in message headers -------------------------------------------------------
def inject(headers: dict[str, str]) -> dict[str, str]:
    """`headers` plus the current trace context (`traceparent`, `tracestate`), when there is
    one; the same dict, returned for convenience."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> Context:
    """The trace context `headers` carry; an empty context (a new trace) when they carry none
    or a malformed one."""
    return propagate.extract(dict(headers) if headers else {}, context=Context())


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


__all__ = [
    "TRACER_NAME",
    "Tracing",
    "annotate",
    "consumer_span",
    "current_trace_id",
    "extract",
    "inject",
    "producer_span",
    "service_resource",
    "setup_tracing",
    "span",
    "tracer",
    "tracing_wanted",
    "within",
]
