"""The gateway's requests as OpenTelemetry spans, through litestar's own plugin.

Each request is a server span (continuing a `traceparent` the client sent); what a handler
publishes to NATS carries its context (`cc_bus.publish`), so a run started by a request is one
trace from the request to the executors' steps. With tracing off (`cc_observe.tracing`) the
plugin is not installed at all (`create_app(traced=False)`): its spans would be the API's
no-ops, and its middleware alone cost a sixth of a cached run view's CPU.
"""

from __future__ import annotations

from litestar.plugins.opentelemetry import OpenTelemetryConfig

UNTRACED_PATHS = ("^/health$", "^/ready$", "^/metrics$")
"""Probes and scrapes: many a minute, each its own trace, telling nothing."""


def tracing_config() -> OpenTelemetryConfig:
    return OpenTelemetryConfig(
        exclude=list(UNTRACED_PATHS),
        # One span per request, not one per ASGI message: an SSE stream sends thousands.
        exclude_spans=["receive", "send"],
    )
