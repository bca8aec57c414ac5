"""Figures that live elsewhere, read before each scrape: JetStream's queue depths and the read
model's run counts.

Read by the `/metrics` handler on the event loop, then exposed from a snapshot (`Snapshot`):
the exposition itself never waits for I/O. Each read is bounded; one that fails leaves the last
figures in place (logged), so a scrape answers even while NATS or PostgreSQL is away.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from cc_observe.metrics import Snapshot
from commandcenter_contracts import RunStatus, subjects
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 3.0

T = TypeVar("T")

DURABLES: tuple[tuple[str, str], ...] = (
    (subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_LOCAL),
    (subjects.STREAM_TASKS, subjects.CONSUMER_EXECUTOR_DAGGER),
    (subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER),
    (subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER_REPLAY),
    (subjects.STREAM_PHASES, subjects.CONSUMER_PLANNER_LAND),
    (subjects.STREAM_STATUS, subjects.CONSUMER_PLANNER_PROGRESS),
    (subjects.STREAM_STATUS, subjects.CONSUMER_PROJECTOR),
    (subjects.STREAM_ADVISORIES, subjects.CONSUMER_PLANNER_ADVISORIES),
    (subjects.STREAM_DEAD, subjects.CONSUMER_DEAD_LETTERS),
)
"""(stream, durable) of every durable consumer; one not created yet is left out."""


@dataclass(frozen=True)
class Figures:
    queue_pending: Snapshot
    runs: Snapshot


@functools.cache
def figures() -> Figures:
    return Figures(
        queue_pending=Snapshot(
            "cc_queue_pending",
            "Messages a durable consumer has yet to finish: pending + ack-pending (what KEDA "
            "scales executor-dagger on).",
            "consumer",
        ),
        runs=Snapshot(
            "cc_runs",
            "Runs in the read model, by status.",
            "status",
            always=[status.value for status in RunStatus if status is not RunStatus.LANDING],
        ),
    )


async def queue_depths(js: JetStreamContext) -> dict[str, float]:
    async def depth(stream: str, durable: str) -> tuple[str, float] | None:
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            return None
        return durable, float((info.num_pending or 0) + (info.num_ack_pending or 0))

    found = await asyncio.gather(*(depth(stream, durable) for stream, durable in DURABLES))
    return dict(item for item in found if item is not None)


async def run_counts(pool: asyncpg.Pool) -> dict[str, float]:
    rows = await pool.fetch("SELECT status, count(*) AS runs FROM runs GROUP BY status")
    return {str(row["status"]): float(row["runs"]) for row in rows}


async def refresh(js: JetStreamContext, pool: asyncpg.Pool) -> None:
    """Read both figures at once; each that could not be read keeps its last snapshot."""
    family = figures()
    depths, counts = await asyncio.gather(
        _bounded("JetStream consumer info", queue_depths(js)),
        _bounded("run counts", run_counts(pool)),
    )
    if depths is not None:
        family.queue_pending.set(depths)
    if counts is not None:
        family.runs.set(counts)


async def _bounded(what: str, read: Coroutine[Any, Any, T]) -> T | None:
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            return await read
    except Exception as exc:
        log.warning("metrics: could not read the %s (%s); showing the last figures", what, exc)
        return None
