"""Spans recorded in memory, for tests that look at what code in this process traced.

OpenTelemetry's global tracer provider can be set once per process: the first call installs an
SDK provider whose spans go to one in-memory exporter, and every call clears that exporter, so
each test sees only its own spans. (The services' own set-up, `cc_observe.tracing.setup_tracing`,
is tested in child processes, where it may install its exporter.)
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_exporter = InMemorySpanExporter()
_lock = threading.Lock()
_installed = False


def recorded_spans() -> InMemorySpanExporter:
    """The exporter every span of this process ends in, emptied."""
    global _installed
    with _lock:
        if not _installed:
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(_exporter))
            trace.set_tracer_provider(provider)
            _installed = True
    _exporter.clear()
    return _exporter
