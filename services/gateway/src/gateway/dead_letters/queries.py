"""The read model's dead letters."""

from __future__ import annotations

import json

import asyncpg

from gateway.dead_letters.schemas import DeadLetterView


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
        DeadLetterView(
            id=r["id"],
            subject=r["subject"],
            error_code=r["error_code"],
            error=r["error"],
            run_id=r["run_id"],
            task_id=r["task_id"],
            attempt=r["attempt"],
            num_delivered=r["num_delivered"],
            at=r["at"],
            stream_seq=r["stream_seq"],
            task=json.loads(r["task"]) if r["task"] is not None else None,
            raw=r["raw"],
        )
        for r in rows
    ]
