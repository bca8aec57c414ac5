"""Queries of the read model used by the HTTP API (the projector writes through `projection`)."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.schemas import (
    BatchView,
    DeadLetterView,
    PullRequestView,
    RunSummary,
    RunView,
    TaskCounts,
    TaskView,
    TokenCounts,
)

RUN_STATUSES = ("accepted", "planning", "running", "succeeded", "halted", "failed", "cancelled")
TASK_STATUSES = ("pending", "queued", "running", "succeeded", "failed", "cancelled")


def parse_run_id(value: str) -> uuid.UUID | None:
    """The run id as a uuid, or None when it cannot be one (then no such run exists)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


@dataclass(frozen=True, kw_only=True)
class NewRun:
    id: str
    mode: str
    plan_path: str
    repo: str
    agent: str
    selection: dict[str, Any]
    requested_by: str
    base_ref: str = "HEAD"
    integration_branch: str = ""
    merge_style: str = "squash"
    land: str = "branch"
    max_cost_usd: float | None = None


@dataclass(frozen=True, kw_only=True)
class IdempotentRun:
    run_id: str
    request_hash: str
    response: dict[str, Any]


async def insert_run(conn: asyncpg.Connection, run: NewRun) -> None:
    await conn.execute(
        """
        INSERT INTO runs (id, status, mode, plan_path, repo, agent, selection, requested_by,
                          base_ref, integration_branch, merge_style, land, max_cost_usd)
        VALUES ($1, 'accepted', $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
        """,
        uuid.UUID(run.id),
        run.mode,
        run.plan_path,
        run.repo,
        run.agent,
        json.dumps(run.selection),
        run.requested_by,
        run.base_ref,
        run.integration_branch,
        run.merge_style,
        run.land,
        run.max_cost_usd,
    )


async def mark_run_not_started(pool: asyncpg.Pool, run_id: str, error: str) -> None:
    """The run was recorded but could not be handed to the planner: say so, and free its
    idempotency key so the client's retry starts afresh."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE runs SET status = 'failed', error = $2, finished_at = now(), updated_at = now()"
            " WHERE id = $1 AND status = 'accepted'",
            uuid.UUID(run_id),
            error,
        )
        await conn.execute("DELETE FROM idempotency_keys WHERE run_id = $1", uuid.UUID(run_id))


async def find_idempotent(conn: asyncpg.Connection, key: str) -> IdempotentRun | None:
    row = await conn.fetchrow(
        "SELECT run_id, request_hash, response FROM idempotency_keys WHERE key = $1", key
    )
    if row is None:
        return None
    return IdempotentRun(
        run_id=str(row["run_id"]),
        request_hash=row["request_hash"],
        response=json.loads(row["response"]),
    )


async def claim_idempotency_key(
    conn: asyncpg.Connection, key: str, run_id: str, request_hash: str, response: dict[str, Any]
) -> bool:
    """Record key → run; False when another request holds the key already."""
    inserted = await conn.fetchval(
        """
        INSERT INTO idempotency_keys (key, run_id, request_hash, response)
        VALUES ($1, $2, $3, $4::jsonb)
        ON CONFLICT (key) DO NOTHING
        RETURNING 1
        """,
        key,
        uuid.UUID(run_id),
        request_hash,
        json.dumps(response),
    )
    return inserted is not None


async def release_idempotency_key(pool: asyncpg.Pool, key: str) -> None:
    """Free a key whose request did not go through, so the client's retry starts afresh."""
    await pool.execute("DELETE FROM idempotency_keys WHERE key = $1", key)


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


async def tasks_with_status(
    pool: asyncpg.Pool, run_id: str, statuses: tuple[str, ...]
) -> list[TaskRef]:
    """The run's tasks whose latest state is one of `statuses`, in plan order."""
    rid = parse_run_id(run_id)
    if rid is None:
        return []
    rows = await pool.fetch(
        _TASK_REF_SQL + " WHERE t.run_id = $1 AND t.status = ANY($2::text[])"
        " ORDER BY t.batch_index NULLS LAST, t.position, t.plan_task_id, t.task_id",
        rid,
        list(statuses),
    )
    return [_task_ref(row) for row in rows]


async def run_status(pool: asyncpg.Pool, run_id: str) -> str | None:
    """The run's status, or None when there is no such run."""
    rid = parse_run_id(run_id)
    if rid is None:
        return None
    status = await pool.fetchval("SELECT status FROM runs WHERE id = $1", rid)
    return None if status is None else str(status)


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


def _counts(statuses: list[str]) -> TaskCounts:
    tally: dict[str, int] = dict.fromkeys(TASK_STATUSES, 0)
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
        RunSummary(
            id=str(r["id"]),
            execution_id=str(r["id"]),
            status=r["status"],
            mode=r["mode"],
            plan_path=r["plan_path"],
            repo=r["repo"],
            agent=r["agent"],
            requested_by=r["requested_by"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            finished_at=r["finished_at"],
            error=r["error"],
            counts=_counts(tallies[r["id"]]),
            base_ref=r["base_ref"],
            integration_branch=r["integration_branch"],
            integration_commit=r["integration_commit"],
            land=r["land"],
            pull_request=_pull_request(r["pull_request"]),
            cost_usd=r["cost_usd"],
            max_cost_usd=r["max_cost_usd"],
        )
        for r in rows
    ]


def _pull_request(raw: str | None) -> PullRequestView | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return PullRequestView(url=data["url"], number=data["number"], state=data["state"])


def _task_view(row: asyncpg.Record) -> TaskView:
    return TaskView(
        task_id=row["task_id"],
        plan_task_id=row["plan_task_id"],
        title=row["title"],
        status=row["status"],
        attempt=row["attempt"],
        branch=row["branch"],
        commit=row["commit"],
        pushed=row["pushed"],
        integrated_commit=row["integrated_commit"],
        cost_usd=row["cost_usd"],
        tokens=TokenCounts(
            input=row["input_tokens"],
            output=row["output_tokens"],
            cache_read=row["cache_read_tokens"],
            cache_creation=row["cache_creation_tokens"],
        ),
        turns=row["turns"],
        model=row["model"],
        fix_rounds=row["fix_rounds"],
        step=row["step"],
        error_code=row["error_code"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


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
    batches = [
        BatchView(
            index=b["index"],
            phase=b["phase"],
            number=b["number"],
            title=b["title"],
            status=b["status"],
            started_at=b["started_at"],
            finished_at=b["finished_at"],
            integrated_commit=b["integrated_commit"],
            tasks=tasks_by_batch.pop(b["index"], []),
        )
        for b in batch_rows
    ]
    # Tasks whose batch was never announced (their run.planned was not seen): still shown.
    for index in sorted(tasks_by_batch, key=lambda i: (i is None, i or 0)):
        batches.append(
            BatchView(
                index=index,
                phase=None,
                number="",
                title="",
                status="pending",
                started_at=None,
                finished_at=None,
                integrated_commit=None,
                tasks=tasks_by_batch[index],
            )
        )
    selection = json.loads(run["selection"]) if run["selection"] else {}
    return RunView(
        id=str(run["id"]),
        execution_id=str(run["id"]),
        status=run["status"],
        mode=run["mode"],
        plan_path=run["plan_path"],
        repo=run["repo"],
        agent=run["agent"],
        requested_by=run["requested_by"],
        selection={str(k): (None if v is None else str(v)) for k, v in selection.items()},
        created_at=run["created_at"],
        updated_at=run["updated_at"],
        finished_at=run["finished_at"],
        error=run["error"],
        batches=batches,
        counts=_counts([row["status"] for row in task_rows]),
        base_ref=run["base_ref"],
        integration_branch=run["integration_branch"],
        integration_commit=run["integration_commit"],
        merge_style=run["merge_style"],
        land=run["land"],
        landed_commit=run["landed_commit"],
        pull_request=_pull_request(run["pull_request"]),
        cost_usd=run["cost_usd"],
        max_cost_usd=run["max_cost_usd"],
    )
