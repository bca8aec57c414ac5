"""The read model's tasks as the control endpoints need them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
from commandcenter_contracts import ExecutionMode, TaskStatus

from gateway.runs.queries import parse_run_id


@dataclass(frozen=True, kw_only=True)
class TaskRef:
    """A task as the control endpoints need it: its state and its run's."""

    task_id: str
    run_id: str
    run_status: str | None
    """None when the run's own row is missing (its events came without `run.accepted`)."""
    plan_task_id: str
    status: str
    attempt: int


_TASK_REF_SQL = """
SELECT t.task_id, t.run_id, t.plan_task_id, t.status, t.attempt, r.status AS run_status
FROM tasks t LEFT JOIN runs r ON r.id = t.run_id
"""


def _task_ref(row: asyncpg.Record) -> TaskRef:
    return TaskRef(
        task_id=row["task_id"],
        run_id=str(row["run_id"]),
        run_status=row["run_status"],
        plan_task_id=row["plan_task_id"],
        status=row["status"],
        attempt=row["attempt"],
    )


async def find_task(pool: asyncpg.Pool, task_id: str) -> TaskRef | None:
    row = await pool.fetchrow(_TASK_REF_SQL + " WHERE t.task_id = $1", task_id)
    return None if row is None else _task_ref(row)


async def run_mode(pool: asyncpg.Pool, run_id: str) -> ExecutionMode:
    """The mode run `run_id` runs in (local when its row is missing)."""
    mode = await pool.fetchval("SELECT mode FROM runs WHERE id = $1", parse_run_id(run_id))
    return ExecutionMode(mode or ExecutionMode.LOCAL)


async def tasks_with_status(
    pool: asyncpg.Pool, run_id: str, statuses: Iterable[TaskStatus]
) -> list[TaskRef]:
    """The run's tasks whose latest state is one of `statuses`, in plan order."""
    rid = parse_run_id(run_id)
    if rid is None:
        return []
    rows = await pool.fetch(
        _TASK_REF_SQL + " WHERE t.run_id = $1 AND t.status = ANY($2::text[])"
        " ORDER BY t.batch_index NULLS LAST, t.position, t.plan_task_id, t.task_id",
        rid,
        sorted(status.value for status in statuses),
    )
    return [_task_ref(row) for row in rows]
