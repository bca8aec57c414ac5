"""Benchmark 3, read model: how fast a burst of status events reaches PostgreSQL.

On benchmark 3's stack, a new run is announced, then `events` `task.progress` events are
published with `cc_bus.publish_status` as fast as JetStream acks them (64 in flight, as a busy
fleet of executors would). Timed from the first publish until every event is a row of the read
model (`events`, polled every 20 ms). Baseline: the publish rate itself, the rate JetStream
took them at. The gateway's projector writes each fetch of up to 64 events in one transaction;
one at a time it wrote 461 events/s here (a fifth of the publish rate), batched 1,287/s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import asyncpg
from cc_bus import publish_status
from commandcenter_contracts import TaskProgress, new_id

from bench.report import Row
from bench.stats import Sample
from bench.system import BenchError, announce, connect_nats

BENCH = "3 status latency"
MAX_IN_FLIGHT = 64
POLL_S = 0.02
CATCH_UP_S = 120.0
"""How long the read model may take after the last publish before the figure is a failure."""


@dataclass(frozen=True)
class Burst:
    published_per_s: float
    projected_per_s: float
    behind_s: float
    """From the last publish acked until the last event was in PostgreSQL."""


def measure_burst(nats_url: str, database_url: str, events: int) -> Burst:
    return asyncio.run(_burst(nats_url, database_url, events))


async def _burst(nats_url: str, database_url: str, events: int) -> Burst:
    run_id = new_id()
    await announce(nats_url, run_id)
    db = await asyncpg.connect(database_url)
    nc = await connect_nats(nats_url, "bench-projection")
    try:
        await _projected(db, run_id, 1, time.monotonic() + 30)  # the run.accepted
        js = nc.jetstream()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        task_id = str(uuid.uuid4())

        async def one(i: int) -> None:
            async with slots:
                event = TaskProgress(run_id=run_id, task_id=task_id, step="bench", message=str(i))
                await publish_status(js, event)

        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(events)))
        published = time.monotonic()
        await _projected(db, run_id, events + 1, published + CATCH_UP_S)
        done = time.monotonic()
    finally:
        await nc.close()
        await db.close()
    return Burst(
        published_per_s=events / (published - start),
        projected_per_s=events / (done - start),
        behind_s=done - published,
    )


async def _projected(db: asyncpg.Connection, run_id: str, rows: int, deadline: float) -> None:
    """Wait until the run has `rows` event rows."""
    while True:
        count = await db.fetchval(
            "SELECT count(*) FROM events WHERE run_id = $1", uuid.UUID(run_id)
        )
        if count >= rows:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"the read model holds {count} of {rows} events of the burst")
        await asyncio.sleep(POLL_S)


def rows(bursts: list[Burst], events: int) -> list[Row]:
    return [
        Row(
            BENCH,
            f"read model: a burst of {events:,} task.progress events into PostgreSQL",
            "events/s",
            ours=Sample([b.projected_per_s for b in bursts]),
            baseline=Sample([b.published_per_s for b in bursts]),
            baseline_label="the burst's publish rate (JetStream acks, 64 in flight)",
            decimals=0,
            note="first publish until every event is a row of the read model; the projector "
            "writes a fetch of up to 64 events per transaction",
            chart=False,
        ),
        Row(
            BENCH,
            "read model: behind the burst's last publish",
            "s",
            ours=Sample([b.behind_s for b in bursts]),
            decimals=2,
            note="from the last publish acked until its event was in PostgreSQL",
            chart=False,
        ),
    ]
