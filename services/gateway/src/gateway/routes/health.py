"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import cc_bus
from cc_bus.executor import live_executors
from commandcenter_contracts import ExecutorInfo
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from nats.js.errors import NotFoundError

from gateway.resources import Resources
from gateway.schemas import ExecutorList, Readiness

CHECK_TIMEOUT_S = 3.0
STREAM_NAMES = tuple(spec.name for spec in cc_bus.STREAMS)


async def _executors(resources: Resources) -> list[ExecutorInfo]:
    if not resources.nc.is_connected:
        return []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await live_executors(resources.js)
    except TimeoutError:
        return []


@get("/api/v1/executors", tags=["health"], summary="The executors alive now")
async def executors(resources: NamedDependency[Resources]) -> ExecutorList:
    items = await _executors(resources)
    return ExecutorList(items=items, count=len(items))


@get("/health", tags=["health"], summary="The process is alive")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _postgres(resources: Resources) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await resources.pool.fetchval("SELECT 1")
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


async def _streams(resources: Resources) -> str:
    if not resources.nc.is_connected:
        return "unknown: NATS is not connected"
    missing: list[str] = []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            for name in STREAM_NAMES:
                try:
                    await resources.js.stream_info(name)
                except NotFoundError:
                    missing.append(name)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return f"missing: {', '.join(missing)}" if missing else "ok"


@get("/ready", tags=["health"], summary="NATS, PostgreSQL and the streams are usable")
async def ready(resources: NamedDependency[Resources]) -> Response[Readiness]:
    nats_state = "ok" if resources.nc.is_connected else "error: not connected"
    postgres, streams = await asyncio.gather(_postgres(resources), _streams(resources))
    body = Readiness(
        nats=nats_state,
        postgres=postgres,
        streams=streams,
        executors=await _executors(resources),
    )
    ok = nats_state == postgres == streams == "ok"
    return Response(body, status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE)
