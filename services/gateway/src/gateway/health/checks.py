"""Checks of what the gateway depends on, each bounded in time and never raising: a failed
check is an answer (`error: …`), not a 500."""

from __future__ import annotations

import asyncio

import asyncpg
import cc_bus
from cc_bus.executor import live_executors
from commandcenter_contracts import ExecutorInfo
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from gateway.health.schemas import Readiness

CHECK_TIMEOUT_S = 3.0
STREAM_NAMES = tuple(spec.name for spec in cc_bus.STREAMS)


async def executors(nc: Client, js: JetStreamContext) -> list[ExecutorInfo]:
    if not nc.is_connected:
        return []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await live_executors(js)
    except TimeoutError:
        return []


async def postgres(pool: asyncpg.Pool) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await pool.fetchval("SELECT 1")
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


async def streams(nc: Client, js: JetStreamContext) -> str:
    if not nc.is_connected:
        return "unknown: NATS is not connected"
    missing: list[str] = []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            for name in STREAM_NAMES:
                try:
                    await js.stream_info(name)
                except NotFoundError:
                    missing.append(name)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return f"missing: {', '.join(missing)}" if missing else "ok"


async def readiness(nc: Client, js: JetStreamContext, pool: asyncpg.Pool) -> tuple[bool, Readiness]:
    """Whether NATS, PostgreSQL and the streams are usable, and what each check said."""
    nats_state = "ok" if nc.is_connected else "error: not connected"
    postgres_state, streams_state = await asyncio.gather(postgres(pool), streams(nc, js))
    body = Readiness(
        nats=nats_state,
        postgres=postgres_state,
        streams=streams_state,
        executors=await executors(nc, js),
    )
    return nats_state == postgres_state == streams_state == "ok", body
