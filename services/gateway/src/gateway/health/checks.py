"""Checks of what the gateway depends on, each bounded in time and never raising: a failed
check is an answer (`error: …`), not a 500."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from cc_bus.cluster_health import meta_health, streams_health
from cc_bus.executor import live_executors
from commandcenter_contracts import ExecutorInfo
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.health.schemas import JetStreamHealth, Readiness

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0


async def executors(nc: Client, js: JetStreamContext) -> list[ExecutorInfo]:
    """The live executors; none when the bucket cannot be read (JetStream without quorum,
    say): the callers (`/ready`, the executors list, the agent check) never fail on it."""
    if not nc.is_connected:
        return []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await live_executors(js)
    except Exception as exc:
        log.warning("could not list the live executors: %s: %s", type(exc).__name__, exc)
        return []


async def postgres(pool: asyncpg.Pool) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await pool.fetchval("SELECT 1")
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


async def jetstream(
    nc: Client, js: JetStreamContext, monitor_urls: tuple[str, ...]
) -> JetStreamHealth | None:
    if not nc.is_connected:
        return None
    meta, streams = await asyncio.gather(meta_health(monitor_urls), streams_health(js))
    return JetStreamHealth(meta=meta, streams=streams)


def streams_state(nc: Client, health: JetStreamHealth | None) -> str:
    """One word for the streams, or what is wrong with which."""
    if health is None or not nc.is_connected:
        return "unknown: NATS is not connected"
    missing = [s.name for s in health.streams if s.state == "missing"]
    no_quorum = [s.name for s in health.streams if s.state.startswith("no quorum")]
    broken = [f"{s.name} ({s.state})" for s in health.streams if s.state.startswith("error")]
    problems = [
        f"missing: {', '.join(missing)}" if missing else "",
        f"no quorum: {', '.join(no_quorum)}" if no_quorum else "",
        "; ".join(broken),
    ]
    return "; ".join(p for p in problems if p) or "ok"


async def readiness(
    nc: Client, js: JetStreamContext, pool: asyncpg.Pool, monitor_urls: tuple[str, ...] = ()
) -> tuple[bool, Readiness]:
    """Whether NATS, PostgreSQL and the streams are usable, and what each check said. A
    stream that has lost its quorum is not usable: not ready."""
    nats_state = "ok" if nc.is_connected else "error: not connected"
    postgres_state, health = await asyncio.gather(postgres(pool), jetstream(nc, js, monitor_urls))
    streams = streams_state(nc, health)
    body = Readiness(
        nats=nats_state,
        postgres=postgres_state,
        streams=streams,
        jetstream=health,
        executors=await executors(nc, js),
    )
    return nats_state == postgres_state == streams == "ok", body
