"""Liveness and readiness over HTTP."""

from __future__ import annotations

import asyncpg
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.api_schema import refusals
from gateway.health import checks
from gateway.health.schemas import ExecutorList, Readiness
from gateway.settings import Settings


@get(
    "/api/v1/executors",
    tags=["health"],
    summary="The executors alive now",
    responses=refusals(503),
)
async def executors(
    nc: NamedDependency[Client], js: NamedDependency[JetStreamContext]
) -> ExecutorList:
    items = await checks.executors(nc, js)
    return ExecutorList(items=items, count=len(items))


@get("/health", tags=["health"], summary="The process is alive")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    tags=["health"],
    summary="NATS, PostgreSQL and the streams are usable",
    responses={
        503: ResponseSpec(
            data_container=Readiness,
            description="Not ready: `checks` says what is not usable",
            generate_examples=False,
        )
    },
)
async def ready(
    nc: NamedDependency[Client],
    js: NamedDependency[JetStreamContext],
    pool: NamedDependency[asyncpg.Pool],
    settings: NamedDependency[Settings],
) -> Response[Readiness]:
    ok, body = await checks.readiness(nc, js, pool, settings.nats_monitor_urls)
    return Response(body, status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE)


ROUTES: list[ControllerRouterHandler] = [health, ready, executors]
