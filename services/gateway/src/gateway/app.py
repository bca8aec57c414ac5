"""The gateway application: `create_app(settings)` wires everything; nothing happens at import.

Each feature is a slice with its own routes (`runs`, `control`, `dead_letters`, `events`,
`plans`, `health`, `console`: the dashboard, `auth`: tokens and the guard every route passes);
handlers name what they use (`pool`, `js`, `nc`, `settings`, or their slice's own: `control`,
`starting`, `streams`, `after_seq`, `requester`, `sse_gate`, `run`: the run its path names,
by its id or a unique prefix) and get it from the dependencies declared here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from cc_bus import ReplicasError, redact_url
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.opentelemetry import OpenTelemetryPlugin
from litestar.types import ControllerRouterHandler

from gateway import api_schema
from gateway.auth import routes as auth
from gateway.auth import wiring as auth_wiring
from gateway.auth.guard import AuthMiddleware
from gateway.auth.openapi import COMPONENTS, documented
from gateway.console import routes as console
from gateway.control import routes as control
from gateway.control.context import Control
from gateway.dead_letters import routes as dead_letters
from gateway.errors import EXCEPTION_HANDLERS
from gateway.events import routes as events
from gateway.events.hubs import Hubs
from gateway.events.sse import Streams
from gateway.health import routes as health
from gateway.metrics import routes as metrics
from gateway.metrics.http import HttpMetrics
from gateway.plans import routes as plans
from gateway.resources import (
    SETTINGS,
    open_resources,
    provide_js,
    provide_nc,
    provide_pool,
    provide_settings,
)
from gateway.runs import ids as run_ids
from gateway.runs import routes as runs
from gateway.runs.starting import Starting
from gateway.settings import Settings
from gateway.tracing import tracing_config

log = logging.getLogger(__name__)

ROUTES: list[ControllerRouterHandler] = [
    *runs.ROUTES,
    *control.ROUTES,
    *dead_letters.ROUTES,
    *events.ROUTES,
    *plans.ROUTES,
    *health.ROUTES,
    *metrics.ROUTES,  # /metrics, outside the OpenAPI schema
    *console.ROUTES,  # the dashboard's pages, outside the OpenAPI schema
    *auth.ROUTES,  # tokens, the dashboard's session
]


def create_app(settings: Settings, *, traced: bool = False) -> Litestar:
    """`traced`: requests become spans (`python -m gateway` passes whether `setup_tracing`
    installed a provider). Off, litestar's OpenTelemetry middleware is left out: its spans
    would be the API's no-ops, and it cost a sixth of a cached run view's CPU."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            resources = await open_resources(settings)
        except ReplicasError as exc:  # the one line to read in what uvicorn logs next
            log.error("not starting: %s", exc)
            raise
        app.state.resources = resources
        # one subscription per run followed, shared by its SSE clients
        app.state.hubs = Hubs(resources.js, settings.sse_max_behind)
        log.info(
            "gateway started: NATS %s, plans under %s",
            redact_url(settings.nats_url),
            settings.plan_root,
        )
        try:
            await auth_wiring.on_start(settings, resources.pool)  # the admin token, or a warning
            yield
        finally:
            await app.state.hubs.close()
            del app.state.resources, app.state.hubs
            await resources.close()
            log.info("gateway stopped")

    def provide_hubs() -> Hubs:
        hubs = app.state.get("hubs")
        if not isinstance(hubs, Hubs):  # only outside a running lifespan
            raise RuntimeError("the gateway's event hubs are not open")
        return hubs

    app = Litestar(
        route_handlers=documented(ROUTES),  # guarded routes say so in the OpenAPI document
        state=State({SETTINGS: settings}),
        lifespan=[lifespan],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "pool": Provide(provide_pool, sync_to_thread=False),
            "js": Provide(provide_js, sync_to_thread=False),
            "nc": Provide(provide_nc, sync_to_thread=False),
            "hubs": Provide(provide_hubs, sync_to_thread=False),
            # each slice's own, built from the ones above
            "control": Provide(Control, sync_to_thread=False),
            "starting": Provide(Starting, sync_to_thread=False),
            "streams": Provide(Streams, sync_to_thread=False),
            "after_seq": Provide(events.provide_after_seq, sync_to_thread=False),
            "run": Provide(run_ids.provide_run),  # `{run_id}`: a whole id or a unique prefix
            **auth_wiring.dependencies(settings),  # `requester`, `sse_gate`
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            HttpMetrics,  # HTTP request metrics per route: outermost, so refusals are counted
            DefineMiddleware(AuthMiddleware, enabled=settings.auth),  # every route's scope
        ],
        plugins=[OpenTelemetryPlugin(tracing_config())] if traced else [],
        openapi_config=OpenAPIConfig(
            title="CommandCenter gateway",
            version=version("cc-gateway"),
            description="Start runs of a markdown plan's batches and follow them.",
            path="/schema",
            components=COMPONENTS,  # the bearer token and the session cookie
        ),
        logging_config=None,  # the process configures logging (cc_bus.logs); litestar must not
        debug=False,
        request_max_body_size=settings.max_body_bytes,  # larger: 413 (gateway.errors)
        before_send=[api_schema.exact_allow_header],
    )
    api_schema.refine(app)  # the document says what the routes refuse and what bodies may hold
    return app
