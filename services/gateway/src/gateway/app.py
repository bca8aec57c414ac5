"""The gateway application: `create_app(settings)` wires everything; nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gateway.errors import EXCEPTION_HANDLERS
from gateway.resources import Resources, open_resources
from gateway.routes import ROUTES
from gateway.routes.deps import provide_resources
from gateway.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        resources = await open_resources(settings)
        app.state.resources = resources
        log.info("gateway started: NATS %s, plans under %s", settings.nats_url, settings.plan_root)
        try:
            yield
        finally:
            del app.state.resources
            await resources.close()
            log.info("gateway stopped")

    return Litestar(
        route_handlers=ROUTES,
        lifespan=[lifespan],
        dependencies={"resources": Provide(provide_resources, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="CommandCenter gateway",
            version="1.0.0",
            description="Start runs of a markdown plan's batches and follow them.",
            path="/schema",
        ),
        signature_namespace={"Resources": Resources},
        logging_config=None,  # the process configures logging (cc_bus.logs); litestar must not
        debug=False,
    )
