"""The read model's runs as the runs API reads them, and the run row a start request writes
(the projector writes everything else). `parse_run_id` and `run_status` serve the other slices
too: whatever names a run asks here whether it exists and how it stands."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

import asyncpg
from commandcenter_contracts import BatchStatus, RunAccepted, RunStatus, TaskStatus

from gateway.readmodel.projection import accepted_run
from gateway.readmodel.sql import Connection, bind, from_row
from gateway.runs.schemas import (
    BatchView,
    PullRequestView,
    RunSummary,
    RunView,
    TaskCounts,
    TaskView,
    TokenCounts,
)

LISTED_RUN_STATUSES = tuple(s for s in RunStatus if s is not RunStatus.LANDING)
"""What `?status=` may ask for: the read model shows a landing run as running."""
COUNTED_TASK_STATUSES = tuple(s.value for s in TaskStatus if s is not TaskStatus.WAITING)
"""A run view's `counts` keys: the read model shows a waiting task as pending."""


def parse_run_id(value: str) -> uuid.UUID | None:
    """The run id as a uuid, or None when it cannot be one (then no such run exists)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


_INSERT_RUN = """
INSERT INTO runs (id, status, mode, plan_path, repo, agent, selection, requested_by,
                  base_ref, integration_branch, merge_style, land, max_cost_usd)
VALUES (:id, :status, :mode, :plan_path, :repo, :agent, :selection::jsonb, :requested_by,
        :base_ref, :integration_branch, :merge_style, :land, :max_cost_usd)
"""


async def insert_run(conn: Connection, accepted: RunAccepted) -> None:
    """The run's row, as the start request records it before announcing `accepted`."""
    columns = accepted_run(accepted)
    sql, args = bind(
        _INSERT_RUN, id=uuid.UUID(accepted.run_id), status=RunStatus.ACCEPTED, **columns
    )
    await conn.execute(sql, *args)


async def mark_run_not_started(pool: asyncpg.Pool, run_id: str, error: str) -> None:
    """The run was recorded but could not be handed to the planner: say so."""
    await pool.execute(
        "UPDATE runs SET status = 'failed', error = $2, finished_at = now(), updated_at = now()"
        " WHERE id = $1 AND status = 'accepted'",
        uuid.UUID(run_id),
        error,
    )


async def run_status(pool: asyncpg.Pool, run_id: str) -> str | None:
    """The run's status, or None when there is no such run."""
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    status = await pool.fetchval("SELECT status FROM runs WHERE id = $1", rid)
    return None if status is None else str(status)


def _counts(statuses: list[str]) -> TaskCounts:
    tally: dict[str, int] = dict.fromkeys(COUNTED_TASK_STATUSES, 0)
    for status in statuses:
        if status in tally:
            tally[status] += 1
    return TaskCounts(**tally, total=len(statuses))


_COUNTS_SQL = """
SELECT run_id, status, count(*) AS n FROM tasks WHERE run_id = ANY($1::uuid[])
GROUP BY run_id, status
"""


async def list_runs(pool: asyncpg.Pool, *, status: str | None, limit: int) -> list[RunSummary]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT * FROM runs WHERE ($1::text IS NULL OR status = $1)
            ORDER BY created_at DESC, id LIMIT $2
            """,
            status,
            limit,
        )
        tallies: dict[uuid.UUID, list[str]] = defaultdict(list)
        if rows:
            for row in await conn.fetch(_COUNTS_SQL, [r["id"] for r in rows]):
                tallies[row["run_id"]].extend([row["status"]] * row["n"])
    return [
        from_row(
            RunSummary,
            r,
            id=str(r["id"]),
            execution_id=str(r["id"]),
            counts=_counts(tallies[r["id"]]),
            pull_request=_pull_request(r["pull_request"]),
        )
        for r in rows
    ]


def _pull_request(raw: str | None) -> PullRequestView | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return PullRequestView(url=data["url"], number=data["number"], state=data["state"])


def _task_view(row: asyncpg.Record) -> TaskView:
    tokens = TokenCounts(
        input=row["input_tokens"],
        output=row["output_tokens"],
        cache_read=row["cache_read_tokens"],
        cache_creation=row["cache_creation_tokens"],
    )
    return from_row(TaskView, row, tokens=tokens)


async def get_run_view(pool: asyncpg.Pool, run_id: str) -> RunView | None:
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        run = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", rid)
        if run is None:
            return None
        batch_rows = await conn.fetch("SELECT * FROM batches WHERE run_id = $1 ORDER BY index", rid)
        task_rows = await conn.fetch(
            "SELECT * FROM tasks WHERE run_id = $1"
            " ORDER BY batch_index NULLS LAST, position, plan_task_id, task_id",
            rid,
        )
    tasks_by_batch: dict[int | None, list[TaskView]] = defaultdict(list)
    for row in task_rows:
        tasks_by_batch[row["batch_index"]].append(_task_view(row))
    batches = [from_row(BatchView, b, tasks=tasks_by_batch.pop(b["index"], [])) for b in batch_rows]
    # Tasks whose batch was never announced (their run.planned was not seen): still shown.
    for index in sorted(tasks_by_batch, key=lambda i: (i is None, i or 0)):
        batches.append(
            BatchView(
                index=index,
                phase=None,
                number="",
                title="",
                status=BatchStatus.PENDING,
                started_at=None,
                finished_at=None,
                integrated_commit=None,
                tasks=tasks_by_batch[index],
            )
        )
    selection = json.loads(run["selection"]) if run["selection"] else {}
    return from_row(
        RunView,
        run,
        id=str(run["id"]),
        execution_id=str(run["id"]),
        selection={str(k): (None if v is None else str(v)) for k, v in selection.items()},
        batches=batches,
        counts=_counts([row["status"] for row in task_rows]),
        pull_request=_pull_request(run["pull_request"]),
    )
