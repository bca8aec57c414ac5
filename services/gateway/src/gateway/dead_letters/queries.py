"""The read model's dead letters, each marked `resolved` when its task has succeeded since.

"Resolved" is derived from the task's current row in the read model rather than recorded: a
replay (or any later attempt) that succeeds makes the letter moot, and a read model rebuilt
from the streams gets the same answer without a second projection.
"""

from __future__ import annotations

import json

import asyncpg

from gateway.dead_letters.schemas import DeadLetterView
from gateway.readmodel.sql import from_row

_LIST = """
SELECT d.*, coalesce(t.status = 'succeeded', false) AS resolved
FROM dead_letters d LEFT JOIN tasks t ON t.task_id = d.task_id
WHERE ($1::text IS NULL OR d.run_id = $1)
  AND ($2 OR t.status IS DISTINCT FROM 'succeeded')
ORDER BY d.stream_seq DESC LIMIT $3
"""


async def list_dead_letters(
    pool: asyncpg.Pool, *, run_id: str | None, limit: int, include_resolved: bool = False
) -> list[DeadLetterView]:
    """Newest first (by arrival in CC_DEAD), optionally only those of one run; letters whose
    task has succeeded since only with `include_resolved`."""
    rows = await pool.fetch(_LIST, run_id, include_resolved, limit)
    return [
        from_row(DeadLetterView, r, task=json.loads(r["task"]) if r["task"] is not None else None)
        for r in rows
    ]
