"""The read model's dead letters."""

from __future__ import annotations

import json

import asyncpg

from gateway.dead_letters.schemas import DeadLetterView
from gateway.readmodel.sql import from_row


async def list_dead_letters(
    pool: asyncpg.Pool, *, run_id: str | None, limit: int
) -> list[DeadLetterView]:
    """Newest first (by arrival in CC_DEAD), optionally only those of one run."""
    rows = await pool.fetch(
        """
        SELECT * FROM dead_letters WHERE ($1::text IS NULL OR run_id = $1)
        ORDER BY stream_seq DESC LIMIT $2
        """,
        run_id,
        limit,
    )
    return [
        from_row(DeadLetterView, r, task=json.loads(r["task"]) if r["task"] is not None else None)
        for r in rows
    ]
