"""Waiting for the read model to catch up with an event a client has seen.

The read model is projected from the status stream a moment after each event is published: a
client that saw event N on a run's stream and asks for the run at once could get a view from
before N. Asked to, the view waits until the projector has written N (it writes a run's events
in stream order), for a bounded time; then it answers anyway.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from gateway.runs.queries import parse_run_id

POLL_S = 0.05
MAX_WAIT_S = 5.0


async def wait_projected(pool: asyncpg.Pool, run_id: str, seq: int, *, within_s: float) -> bool:
    """Whether the run's events up to stream sequence `seq` are in the read model (waiting up
    to `within_s` for them)."""
    rid = parse_run_id(run_id)
    if rid is None:
        return False
    deadline = time.monotonic() + within_s
    while True:
        projected = await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM events WHERE run_id = $1 AND stream_seq >= $2)",
            rid,
            seq,
        )
        if projected or time.monotonic() >= deadline:
            return bool(projected)
        await asyncio.sleep(POLL_S)
