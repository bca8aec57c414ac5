"""A small, real OTLP/HTTP trace collector for the tests: what the services' exporters send,
decoded with OpenTelemetry's own protobuf messages.

    with OtlpCollector() as collector:           # listens on 127.0.0.1, a free port
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
        ...
        spans = collector.spans()                 # every span received so far, flattened

It answers `POST /v1/traces` (`application/x-protobuf`, gzip or not) the way a collector does
(an `ExportTraceServiceResponse`); anything else is a 4xx, so an exporter that sends the wrong
thing fails loudly in the services' logs.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class CollectedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    """Empty for the root of a trace."""
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


def decode_spans(body: bytes) -> list[CollectedSpan]:
    """The spans of one export request, each with its resource's `service.name`."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[CollectedSpan] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(
                    CollectedSpan(
                        service=service,
                        name=s.name,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        kind=int(s.kind),
                        attributes=_attributes(s.attributes),
                    )
                )
    return spans


class OtlpCollector:
    def __init__(self) -> None:
        self._spans: list[CollectedSpan] = []
        self._lock = threading.Lock()
        self.requests = 0
        self.rejected = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter adds `/v1/traces`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self) -> list[CollectedSpan]:
        with self._lock:
            return list(self._spans)

    def start(self) -> OtlpCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OtlpCollector:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _received(self, spans: list[CollectedSpan]) -> None:
        with self._lock:
            self.requests += 1
            self._spans.extend(spans)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != TRACES_PATH:
                    return self._answer(404, b"only traces are collected here")
                if not self.headers.get("Content-Type", "").startswith("application/x-protobuf"):
                    return self._answer(415, b"OTLP/HTTP protobuf only")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    spans = decode_spans(_decompressed(body, self.headers.get("Content-Encoding")))
                except (DecodeError, OSError, zlib.error) as exc:
                    return self._answer(400, f"not an ExportTraceServiceRequest: {exc}".encode())
                collector._received(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, body: bytes) -> None:
                if status >= 400:
                    with collector._lock:
                        collector.rejected += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests say what they received

        return Handler


def _decompressed(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body
