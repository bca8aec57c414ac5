"""What the event streams ask the read model: does the run or task exist, is it over."""

from __future__ import annotations

import asyncpg

from gateway.runs.queries import parse_run_id


async def run_exists(pool: asyncpg.Pool, run_id: str) -> bool:
    rid = parse_run_id(run_id)
    if rid is None:
        return False
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)", rid))


async def task_status(pool: asyncpg.Pool, run_id: str, task_id: str) -> str | None:
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    status = await pool.fetchval(
        "SELECT status FROM tasks WHERE task_id = $1 AND run_id = $2", task_id, rid
    )
    return None if status is None else str(status)
