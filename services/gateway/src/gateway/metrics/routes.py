"""`GET /metrics` (litestar's `PrometheusController`, with the figures read first) and the HTTP
request metrics (litestar's Prometheus middleware)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ControllerRouterHandler

from gateway.metrics.figures import refresh
from gateway.metrics.sse_clients import sse_clients
from gateway.resources import Resources

HTTP_PREFIX = "cc_http"


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


def http_metrics() -> DefineMiddleware:
    """Requests counted and timed per route template (`/api/v1/runs/{run_id:str}`), not per
    path, so run ids never become label values."""
    return PrometheusConfig(app_name="gateway", prefix=HTTP_PREFIX, group_path=True).middleware


ROUTES: list[ControllerRouterHandler] = [MetricsController]
