"""`GET /metrics`: litestar's `PrometheusController`, with the figures read first."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ControllerRouterHandler

from gateway.metrics.figures import refresh
from gateway.metrics.sse_clients import sse_clients
from gateway.resources import Resources


async def read_figures(request: Request[Any, Any, Any]) -> None:
    """Before each scrape: the queue depths and run counts as they are now."""
    sse_clients()  # listed (at 0) before the first stream
    resources = request.app.state.get("resources")
    if isinstance(resources, Resources):
        await refresh(resources.js, resources.pool)


class MetricsController(PrometheusController):
    """The whole default registry in Prometheus' text format, at `/metrics`."""

    include_in_schema = False
    before_request = staticmethod(read_figures)


ROUTES: list[ControllerRouterHandler] = [MetricsController]
