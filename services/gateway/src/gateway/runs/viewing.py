"""Reading runs: the list, one run's view, and the original clients' views of it."""

from __future__ import annotations

import asyncpg

from gateway.domain_errors import InvalidRequest, NotFound
from gateway.runs import compat, queries
from gateway.runs.schemas import RunList, RunView


async def list_runs(pool: asyncpg.Pool, *, status: str | None, limit: int) -> RunList:
    if status is not None and status not in queries.LISTED_RUN_STATUSES:
        known = ", ".join(queries.LISTED_RUN_STATUSES)
        raise InvalidRequest(
            "status", f"unknown run status {status!r}; one of {known}", source="query"
        )
    items = await queries.list_runs(pool, status=status, limit=limit)
    return RunList(items=items, count=len(items))


async def view_run(pool: asyncpg.Pool, run_id: str) -> RunView:
    view = await queries.get_run_view(pool, run_id)
    if view is None:
        raise NotFound(f"run {run_id[:100]}")
    return view


async def autonomous_task(
    pool: asyncpg.Pool, run_id: str, task_number: str
) -> compat.AutonomousTask:
    view = await view_run(pool, run_id)
    task = compat.find_task(view, task_number)
    if task is None:
        raise NotFound(f"task {task_number[:50]} of run {run_id[:100]}")
    return compat.autonomous_task(view, task)
